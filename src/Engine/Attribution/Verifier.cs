using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>
/// <c>verifyTopN</c>: for each of the n nodes of largest |act × grad| of one sequence, one more forward pass with that
/// node set to zero (on top of the request's ablations), restarted from the residual before the node's layer, giving
/// the exact change of the loss (or traced value) next to its first-order estimate <c>-act × grad</c>.
/// </summary>
internal sealed class Verifier(AttributionEngine engine, AttributionPlan plan, Objective objective, AttributedPass pass,
    ReducedScalars scalars, int b, int position)
{
    /// <summary>Verifies the nodes against <paramref name="unchanged"/>, the sequence's loss (or traced value).</summary>
    public List<AttributionVerificationRow> Run(double unchanged)
    {
        var tokens = pass.LayerInputs[0]!.shape[1];
        var top = NodeTable.LargestActTimesGrad(plan, scalars, b, plan.Spec.VerifyTopN);
        var rows = NodeTable.Rows(plan, scalars, b, top.Select(t => t.Key).ToList(), tokens, engine.Config);
        var verified = new List<AttributionVerificationRow>();
        for (var i = 0; i < top.Count; i++)
        {
            var (key, actTimesGrad) = top[i];
            var value = Ablated(key, rows[i].TensorIndices, unchanged);
            verified.Add(new AttributionVerificationRow(rows[i], actTimesGrad, -actTimesGrad, value - unchanged, value));
        }
        return verified;
    }

    /// <summary>The loss (or traced value) with the node at zero: one forward pass from the node's layer on.</summary>
    private double Ablated(NodeKey key, long[] indices, double unchanged)
    {
        using var scope = NewDisposeScope();
        var family = plan.Families[key.Family];
        var start = key.Layer ?? 0;
        var residual = pass.LayerInputs[start]![TensorIndex.Slice(b, b + 1)];
        var ablations = plan.Ablations.ToList();
        long?[] at = [.. indices.Select(i => (long?)i)];
        switch (family.Kind)
        {
            case FamilyKind.Embedding:
                residual = residual.clone();
                residual[TensorIndex.Colon, indices[0]] = tensor(0f, device: residual.device);
                break;
            case FamilyKind.Neurons: ablations.Add(new(AblationTarget.Neuron, start, at, 0)); break;
            case FamilyKind.Heads: ablations.Add(new(AblationTarget.Head, start, at, 0)); break;
            case FamilyKind.Latents: ablations.Add(new(AblationTarget.Latent, start, at, 0, family.Splice!.Index)); break;
            default: ablations.Add(new(AblationTarget.Error, start, at, 0, family.Splice!.Index)); break;
        }
        var rerun = new AttributedPass(engine.Model, plan, ablations) { LogitPosition = position };
        rerun.RunFrom(start, residual);
        using var _ = no_grad();
        if (plan.Trace is not { } trace) return objective.Loss(rerun.Logits[TensorIndex.Colon, 0])[0].item<float>();
        // A re-run starting after the traced node's residual cannot change the traced value.
        if (rerun.TraceResidual is null) return unchanged;
        var lossGradient = trace.TraceType == Models.Wire.AttributionTraceType.V ? objective.LossGradient(rerun.FinalResidual, position) : null;
        return objective.Traced(rerun.TraceResidual, lossGradient)[0].item<float>();
    }
}
