using ReconService.Engine.Model;
using ReconService.Models.Wire;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>
/// The attribution of a group of equal-length sequences, run together: one recorded forward pass, one backward pass
/// from the summed objective (sequences are independent, so each gets its own gradient), the derived scalars reduced
/// layer by layer (each layer's recorded activations and gradients released once reduced), then per sequence the node
/// table, the sums, the dense scalars and the verification. An extra forward without ablations gives the unablated loss.
/// </summary>
internal sealed class AttributionRun(AttributionEngine engine, AttributionPlan plan, IReadOnlyList<int> sequences)
{
    private readonly GptConfig _config = engine.Config;
    private readonly Objective _objective = new(engine.Model, engine.Reconstituter, plan, engine.Weights);

    /// <summary>Runs the group and stores each sequence's result at its request index.</summary>
    public void Execute(AttributionSequenceResult?[] results)
    {
        var length = plan.Spec.Sequences[sequences[0]].Count;
        var ids = sequences.SelectMany(i => plan.Spec.Sequences[i].Select(t => (long)t)).ToArray();
        var tokens = tensor(ids, device: engine.Device).reshape(sequences.Count, length);
        var position = plan.Spec.Loss is { } loss ? (loss.Position < 0 ? length + loss.Position : loss.Position) : length - 1;
        var pass = new AttributedPass(engine.Model, plan, plan.Ablations)
        {
            Record = true,
            WithGrad = plan.NeedsGradient,
            KeepLayerInputs = plan.Spec.VerifyTopN > 0,
            LogitPosition = plan.Spec.Dense ? null : position,
        };
        pass.Run(tokens);
        var logitsAtPosition = pass.Logits[TensorIndex.Colon, plan.Spec.Dense ? position : 0];
        var lossValues = plan.Spec.Loss is null ? null : _objective.Loss(logitsAtPosition);
        Tensor? traced = null;
        if (plan.Trace is { } trace)
        {
            var lossGradient = trace.TraceType == AttributionTraceType.V ? _objective.LossGradient(pass.FinalResidual, position) : null;
            traced = _objective.Traced(pass.TraceResidual!, lossGradient);
        }
        var directionAt = plan.Trace is null ? pass.FinalResidual : pass.TraceResidual!;
        var gradients = plan.NeedsGradient ? Gradients.Backward((traced ?? lossValues)!, pass, directionAt) : new Gradients();
        var scalars = new ReducedScalars(plan, sequences.Count);
        DerivedScalars.Compute(plan, pass, gradients.Of, plan.NeedsGradient ? gradients.Of(directionAt) : null, engine.Weights, _config, scalars,
            layer => Release(pass, layer, gradients));
        var unablated = plan.Ablations.Count > 0 && lossValues is not null ? Unablated(tokens, position) : null;
        using var _ = no_grad();
        for (var b = 0; b < sequences.Count; b++)
        {
            var verification = plan.Spec.VerifyTopN > 0
                ? new Verifier(engine, plan, _objective, pass, scalars, b, position).Run((traced ?? lossValues)![b].item<float>())
                : null;
            results[sequences[b]] = Assemble(b, pass, scalars, lossValues, unablated, traced, verification);
        }
    }

    /// <summary>
    /// Disposes what the pass recorded at <paramref name="layer"/> and the gradients with respect to it: every family
    /// there has been reduced, and nothing later reads them (verification restarts from the kept layer inputs).
    /// </summary>
    private static void Release(AttributedPass pass, int layer, Gradients gradients)
    {
        var recorded = new List<Tensor?> { pass.Probs[layer], pass.Values[layer], pass.PostAct[layer], pass.DeltaMlp[layer] };
        foreach (var ((_, at), record) in pass.Splices.Where(s => s.Key.Layer == layer))
            recorded.AddRange([record.Input, record.Replaced, record.Latents, record.Unablated, record.Scale, record.Output]);
        // A residual-stream splice's output can be the residual a trace reads or the final residual (their gradient is the
        // direction every later family reads), and a resid.post_mlp splice's output at L can be a resid.pre splice's at L + 1.
        var kept = new[] { pass.TraceResidual, pass.FinalResidual }.OfType<Tensor>()
            .Concat(pass.Splices.Where(s => s.Key.Layer > layer).Select(s => s.Value.Output)).Select(t => t.Handle).ToHashSet();
        foreach (var t in recorded.OfType<Tensor>().DistinctBy(t => t.Handle).Where(t => !kept.Contains(t.Handle)).ToList())
        {
            gradients.Release(t);
            t.Dispose();
        }
        pass.Probs[layer] = pass.Values[layer] = pass.PostAct[layer] = pass.DeltaMlp[layer] = null;
    }

    /// <summary>The loss of each sequence without ablations (splices without ablations leave values unchanged, so none runs).</summary>
    private Tensor Unablated(Tensor tokens, int position)
    {
        var pass = new AttributedPass(engine.Model, plan, []) { LogitPosition = position };
        pass.Run(tokens);
        using var _ = no_grad();
        return _objective.Loss(pass.Logits[TensorIndex.Colon, 0]);
    }

    private AttributionSequenceResult Assemble(int b, AttributedPass pass, ReducedScalars scalars, Tensor? loss, Tensor? unablated,
        Tensor? traced, IReadOnlyList<AttributionVerificationRow>? verification)
    {
        var tokens = plan.Spec.Sequences[sequences[b]];
        var keys = NodeTable.Select(plan, scalars, b);
        var rows = NodeTable.Rows(plan, scalars, b, keys, tokens.Count, _config);
        var sums = new Dictionary<string, IReadOnlyDictionary<string, Tensor>>();
        var dense = plan.Spec.Dense ? new Dictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, Tensor>>>() : null;
        foreach (var group in plan.Groups)
        {
            var groupSums = new Dictionary<string, Tensor>();
            var groupDense = new Dictionary<string, IReadOnlyDictionary<string, Tensor>>();
            for (var f = 0; f < plan.Families.Count; f++)
            {
                var family = plan.Families[f];
                groupSums[family.Dst(group)] = Out(scalars.Sum(f, group)[b]);
                if (dense is not null)
                    groupDense[family.Dst(group)] = family.LayerKeys.ToDictionary(AttributionNames.Layer, l => Out(scalars.Dense(f, group, l)[b]));
            }
            sums[AttributionNames.Of(group)] = groupSums;
            if (dense is not null) dense[AttributionNames.Of(group)] = groupDense;
        }
        return new AttributionSequenceResult(tokens, Scalar(loss, b), Scalar(unablated, b), Scalar(traced, b),
            plan.Spec.Dense ? Out(pass.Logits[b]) : null, rows, sums, dense, verification);
    }

    private static double? Scalar(Tensor? values, int b) => values is null ? null : values[b].item<float>();

    /// <summary>A result tensor: on the CPU, its own contiguous storage, in the caller's dispose scope.</summary>
    private static Tensor Out(Tensor t) => t.detach().cpu().clone().MoveToOuterDisposeScope();
}

/// <summary>
/// The objective's gradients with respect to the recorded tensors, from one backward pass; zeros for a tensor the
/// objective does not depend on (nodes downstream of a traced node). Gradients can be released one tensor at a time.
/// </summary>
internal sealed class Gradients
{
    private readonly Dictionary<IntPtr, Tensor?> _byHandle = [];

    /// <summary>One backward pass from the summed objective to every recorded tensor that needs a gradient.</summary>
    public static Gradients Backward(Tensor objective, AttributedPass pass, Tensor direction)
    {
        var inputs = new List<Tensor> { pass.Embedding, direction };
        inputs.AddRange(pass.Probs.Concat(pass.PostAct).Concat(pass.DeltaMlp).OfType<Tensor>());
        inputs.AddRange(pass.Splices.Values.Select(s => s.Output));
        var unique = inputs.Where(t => t.requires_grad).DistinctBy(t => t.Handle).ToList();
        var gradients = autograd.grad([objective.sum()], unique, allow_unused: true);
        var result = new Gradients();
        for (var i = 0; i < unique.Count; i++) result._byHandle[unique[i].Handle] = gradients[i];
        return result;
    }

    /// <summary>The gradient with respect to <paramref name="t"/>, or zeros like it (in the caller's dispose scope).</summary>
    public Tensor Of(Tensor t) => _byHandle.TryGetValue(t.Handle, out var g) && g is { IsInvalid: false } ? g : zeros_like(t);

    /// <summary>Disposes the gradient with respect to <paramref name="t"/>, if any.</summary>
    public void Release(Tensor t)
    {
        if (_byHandle.Remove(t.Handle, out var g)) g?.Dispose();
    }
}
