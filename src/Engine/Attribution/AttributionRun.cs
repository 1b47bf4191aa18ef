using ReconService.Engine.Model;
using ReconService.Models.Wire;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>
/// The attribution of a group of equal-length sequences, run together: one recorded forward pass, one backward pass
/// from the summed objective (sequences are independent, so each gets its own gradient), the derived scalars, then per
/// sequence the node table, the sums, the dense scalars and the verification. An extra forward without ablations gives
/// the unablated loss.
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
        var gradient = plan.NeedsGradient ? Backward((traced ?? lossValues)!, pass, directionAt) : t => zeros_like(t);
        var scalars = DerivedScalars.Compute(plan, pass, gradient, plan.NeedsGradient ? gradient(directionAt) : null, engine.Weights, _config);
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
    /// One backward pass from the summed objective to every recorded tensor that needs a gradient; returns a lookup
    /// giving zeros for tensors the objective does not depend on (nodes downstream of a traced node).
    /// </summary>
    private static Func<Tensor, Tensor> Backward(Tensor objective, AttributedPass pass, Tensor direction)
    {
        var inputs = new List<Tensor> { pass.Embedding, direction };
        inputs.AddRange(pass.Probs.Concat(pass.PostAct).Concat(pass.DeltaMlp).OfType<Tensor>());
        inputs.AddRange(pass.Splices.Values.Select(s => s.Output));
        var unique = inputs.Where(t => t.requires_grad).DistinctBy(t => t.Handle).ToList();
        var gradients = autograd.grad([objective.sum()], unique, allow_unused: true);
        var byHandle = new Dictionary<IntPtr, Tensor?>();
        for (var i = 0; i < unique.Count; i++) byHandle[unique[i].Handle] = gradients[i];
        return t => byHandle.TryGetValue(t.Handle, out var g) && g is { IsInvalid: false } ? g : zeros_like(t);
    }

    /// <summary>The loss of each sequence without ablations (splices without ablations leave values unchanged, so none runs).</summary>
    private Tensor Unablated(Tensor tokens, int position)
    {
        var pass = new AttributedPass(engine.Model, plan, []) { LogitPosition = position };
        pass.Run(tokens);
        using var _ = no_grad();
        return _objective.Loss(pass.Logits[TensorIndex.Colon, 0]);
    }

    private AttributionSequenceResult Assemble(int b, AttributedPass pass, DerivedScalars scalars, Tensor? loss, Tensor? unablated,
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
                // TDB's intermediate sums: over layers and every axis but the token axes, layers in order.
                Tensor? sum = null;
                foreach (var layer in family.LayerKeys)
                {
                    var perLayer = scalars[f, group, layer][b].sum(-1);
                    sum = sum is null ? perLayer : sum + perLayer;
                }
                groupSums[family.Dst(group)] = Out(sum!);
                if (dense is not null)
                    groupDense[family.Dst(group)] = family.LayerKeys.ToDictionary(AttributionNames.Layer, l => Out(scalars[f, group, l][b]));
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
