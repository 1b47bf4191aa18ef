using ReconService.Models.Tensors;
using ReconService.Models.Wire;
using TorchSharp;

namespace ReconService.Engine.Reduction;

/// <summary>
/// A request's <c>output</c> block, checked: cuts each answer tensor to what was asked, after the computation and
/// before encoding (<c>../shared/docs/api.md</c>, "Output selection and reduction"). In this order:
/// <list type="number">
/// <item><c>positions</c>: <c>index_select</c> on the position axis (negative counts from the end);</item>
/// <item><c>indices</c>: <c>index_select</c> on the last axis;</item>
/// <item><c>topK</c>: <c>topk</c> per row over the last axis, largest first, by value or by absolute value (the values
/// keep their sign); the positions go to an int32 sibling, counted on the unreduced last axis (through
/// <c>indices</c> when both are given);</item>
/// <item><c>dtype</c>: conversion of the values to float32, float16 or bfloat16.</item>
/// </list>
/// </summary>
/// <remarks>
/// <para>The position axis is the tokens axis, after the batch axis when there is one; for attention <c>[q, k, heads]</c>
/// the query axis. Callers say where it is for each tensor (<c>positionAxis</c>): <c>0</c> for <c>[tokens, ...]</c>,
/// <c>1</c> for <c>[batch, tokens, ...]</c>, null for a tensor with no token axis (then <c>positions</c> is refused).</para>
/// <para><see cref="Plan"/> validates against a shape and returns the reduced shapes without touching a tensor;
/// <see cref="Apply"/> runs the same checks and does the work. Errors are <see cref="ReconstitutionException"/> naming
/// <c>output.positions</c>, <c>output.indices</c>, <c>output.topK</c> or <c>output.by</c> (422).</para>
/// <para>Converting to float16 turns values beyond ±65504 into ±Infinity: check answers for overflow before
/// <see cref="Apply"/>, on the float32 result.</para>
/// </remarks>
public sealed class OutputReduction
{
    private readonly int[]? _positions;
    private readonly long[]? _indices;
    private readonly int? _topK;
    private readonly TopKBy _by;

    private OutputReduction(int[]? positions, long[]? indices, int? topK, TopKBy by, TensorDtype dtype)
    {
        _positions = positions;
        _indices = indices;
        _topK = topK;
        _by = by;
        Dtype = dtype;
    }

    /// <summary>No reduction: every tensor returned whole, as float32.</summary>
    public static OutputReduction None { get; } = new(null, null, null, TopKBy.Value, TensorDtype.Float32);

    /// <summary>Element type of the returned values.</summary>
    public TensorDtype Dtype { get; }

    /// <summary>Whether answers gain <c>XIndices</c> siblings (a <c>topK</c> was asked).</summary>
    public bool HasIndices => _topK is not null;

    /// <summary>Whether the reduction leaves every tensor as it is (nothing asked, or float32 alone).</summary>
    public bool IsIdentity => _positions is null && _indices is null && _topK is null && Dtype == TensorDtype.Float32;

    /// <summary>
    /// Checks what does not depend on any tensor's shape: non-empty lists, non-negative indices, <c>topK</c> ≥ 1,
    /// <c>by</c> only with <c>topK</c>.
    /// </summary>
    /// <param name="spec">The request's <c>output</c> block, or null.</param>
    /// <exception cref="ReconstitutionException">A field of <paramref name="spec"/> that cannot be served.</exception>
    public static OutputReduction From(OutputSpec? spec)
    {
        if (spec is null) return None;
        if (spec.Positions is { Length: 0 })
            throw new ReconstitutionException("output.positions", "expected at least one position (leave the field out to keep all)");
        if (spec.Indices is { Length: 0 })
            throw new ReconstitutionException("output.indices", "expected at least one index (leave the field out to keep all)");
        if (spec.Indices is { } given)
            for (var i = 0; i < given.Length; i++)
                if (given[i] < 0)
                    throw new ReconstitutionException("output.indices", $"entry {i} is {given[i]}: expected indices >= 0");
        if (spec.TopK is < 1)
            throw new ReconstitutionException("output.topK", $"expected at least 1, got {spec.TopK}");
        if (spec.By is not null && spec.TopK is null)
            throw new ReconstitutionException("output.by", "only applies with output.topK");
        return new OutputReduction(spec.Positions?.ToArray(), spec.Indices?.Select(i => (long)i).ToArray(), spec.TopK,
            spec.By ?? TopKBy.Value, (spec.Dtype ?? OutputDtype.Float32).ToTensorDtype());
    }

    /// <summary>The reduced shapes of an answer tensor, checked against its unreduced shape; no tensor work.</summary>
    /// <param name="field">Answer field, e.g. <c>activations</c>, for names and messages.</param>
    /// <param name="shape">Unreduced shape (at least one axis).</param>
    /// <param name="positionAxis">Axis of token positions in <paramref name="shape"/>, or null when it has none.</param>
    /// <exception cref="ReconstitutionException">A position or index out of range, or <c>topK</c> larger than the row.</exception>
    public PlannedOutput Plan(string field, IReadOnlyList<long> shape, int? positionAxis)
    {
        if (shape.Count == 0) throw new ArgumentException($"{field}: expected at least one axis", nameof(shape));
        if (positionAxis is { } a && (a < 0 || a >= shape.Count))
            throw new ArgumentOutOfRangeException(nameof(positionAxis), positionAxis, $"{field} has {shape.Count} axes");
        var reduced = shape.ToArray();
        var elementSize = TensorDtype.Float32.Size();
        long working = 0;
        if (_positions is not null)
        {
            var axis = positionAxis ?? throw new ReconstitutionException("output.positions", $"{field} has no token axis");
            NormalizedPositions(field, shape[axis]);
            reduced[axis] = _positions.Length;
            working += Count(reduced) * elementSize;
        }
        var last = reduced.Length - 1;
        if (_indices is not null)
        {
            for (var i = 0; i < _indices.Length; i++)
                if (_indices[i] >= reduced[last])
                    throw new ReconstitutionException("output.indices",
                        $"entry {i} is {_indices[i]}, out of range for {field}'s last axis of {reduced[last]}: expected 0 <= index < {reduced[last]}");
            reduced[last] = _indices.Length;
            working += Count(reduced) * elementSize;
        }
        long[]? indicesShape = null;
        if (_topK is { } k)
        {
            if (k > reduced[last])
                throw new ReconstitutionException("output.topK",
                    $"{k} is more than the {reduced[last]} entries of {field}'s last axis");
            if (_by == TopKBy.Abs) working += Count(reduced) * elementSize;
            reduced[last] = k;
            indicesShape = reduced.ToArray();
            // topk's values and int64 positions, the positions mapped through indices, and their int32 copy
            working += Count(reduced) * (elementSize + 8 + 8 + 4);
        }
        if (Dtype != TensorDtype.Float32) working += Count(reduced) * Dtype.Size();
        return new PlannedOutput(field, reduced, Dtype, indicesShape, working);
    }

    /// <summary>
    /// Reduces a computed tensor as <see cref="Plan"/> describes. New tensors belong to the caller's dispose scope;
    /// with nothing to do, <see cref="ReducedTensor.Values"/> is <paramref name="tensor"/> itself.
    /// </summary>
    /// <param name="field">Answer field, for messages.</param>
    /// <param name="tensor">The unreduced answer tensor (any device, float32).</param>
    /// <param name="positionAxis">Axis of token positions, or null when it has none.</param>
    /// <exception cref="ReconstitutionException">As <see cref="Plan"/>.</exception>
    public ReducedTensor Apply(string field, torch.Tensor tensor, int? positionAxis)
    {
        Plan(field, tensor.shape, positionAxis);
        if (IsIdentity) return new ReducedTensor(tensor, null);
        using var noGrad = torch.no_grad();
        var x = tensor.detach();
        var device = x.device;
        if (_positions is not null)
            x = x.index_select(positionAxis!.Value, torch.tensor(NormalizedPositions(field, x.shape[positionAxis.Value]), device: device));
        var last = x.dim() - 1;
        torch.Tensor? kept = null;
        if (_indices is not null)
        {
            kept = torch.tensor(_indices, device: device);
            x = x.index_select(last, kept);
        }
        torch.Tensor? indices = null;
        if (_topK is { } k)
        {
            torch.Tensor values, at;
            if (_by == TopKBy.Abs)
            {
                (_, at) = x.abs().topk(k, dim: (int)last, largest: true, sorted: true);
                values = x.gather(last, at);
            }
            else
            {
                (values, at) = x.topk(k, dim: (int)last, largest: true, sorted: true);
            }
            if (kept is not null) at = kept.take(at);
            indices = at.to(torch.ScalarType.Int32);
            x = values;
        }
        if (Dtype != TensorDtype.Float32)
        {
            var converted = x.to(ScalarTypeOf(Dtype));
            CheckRange(field, x, converted);
            x = converted;
        }
        return new ReducedTensor(x, indices);
    }

    /// <summary>
    /// Refuses a conversion that turned finite values into ±Inf (float16 holds at most ±65504): a 422 naming
    /// <c>output.dtype</c>, never an answer of infinities the float32 result did not have (masked attention's -inf stays).
    /// </summary>
    private void CheckRange(string field, torch.Tensor source, torch.Tensor converted)
    {
        using var scope = torch.NewDisposeScope();
        var overflowed = converted.isinf().logical_and(source.isfinite());
        var count = overflowed.sum().item<long>();
        if (count == 0) return;
        var first = overflowed.flatten().nonzero()[0, 0].item<long>();
        var value = source.flatten()[first].item<float>();
        var at = string.Join(", ", Unravel(first, source.shape));
        throw new ReconstitutionException("output.dtype",
            $"{field}: {count} value(s) outside {Dtype.WireName()}'s range, the first at [{at}] is {value:G9}; ask for float32 (or bfloat16, which has float32's range)");
    }

    private static IEnumerable<long> Unravel(long flat, long[] shape)
    {
        var at = new long[shape.Length];
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            at[d] = flat % shape[d];
            flat /= shape[d];
        }
        return at;
    }

    /// <summary>The TorchSharp element type of a wire dtype.</summary>
    public static torch.ScalarType ScalarTypeOf(TensorDtype dtype) => dtype switch
    {
        TensorDtype.Float32 => torch.ScalarType.Float32,
        TensorDtype.Float16 => torch.ScalarType.Float16,
        TensorDtype.BFloat16 => torch.ScalarType.BFloat16,
        TensorDtype.Int32 => torch.ScalarType.Int32,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    private long[] NormalizedPositions(string field, long tokens)
    {
        var normalized = new long[_positions!.Length];
        for (var i = 0; i < normalized.Length; i++)
        {
            long p = _positions[i];
            if (p < -tokens || p >= tokens)
                throw new ReconstitutionException("output.positions",
                    $"entry {i} is {p}, out of range for {field}'s {tokens} positions: expected {-tokens} <= position < {tokens}");
            normalized[i] = p < 0 ? p + tokens : p;
        }
        return normalized;
    }

    private static long Count(long[] shape)
    {
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        return n;
    }
}
