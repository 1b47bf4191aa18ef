using ReconService.Engine.Hooks;
using ReconService.Engine.Model;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using ReconService.Models.Wire;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>
/// What the backward pass starts from: TDB's loss functions on the logits at one position
/// (<c>construct_logit_diff_loss_fn</c>, <c>construct_probs_loss_fn</c>, plus the log of the latter), or the traced
/// node's pre-activation recomputed from the residual stream before it (<c>ActivationReconstituter</c>, its own layer
/// norm's scale detached), or for a <c>V</c> trace the head's direct effect on the loss through V
/// (<c>AttentionDirectEffectReconstituter</c>). Every method works on a batch and returns one value per sequence.
/// </summary>
internal sealed class Objective(Transformer model, Reconstituter reconstituter, AttributionPlan plan, AttributionWeights weights)
{
    /// <summary>The loss per sequence <c>[B]</c> from the logits at the loss position <c>[B, n_vocab]</c>.</summary>
    public Tensor Loss(Tensor logits)
    {
        var loss = plan.Spec.Loss!;
        using var targets = tensor(loss.TargetTokens.Select(t => (long)t).ToArray(), device: logits.device);
        switch (loss.Name)
        {
            case AttributionLossName.Probs:
                return logits.softmax(1).index_select(1, targets).sum(1);
            case AttributionLossName.Logprob:
                return logits.log_softmax(1).index_select(1, targets).logsumexp(1);
            default:
                var value = logits.index_select(1, targets).mean([1]);
                if (loss.DistractorTokens.Count == 0) return value;
                using (var distractors = tensor(loss.DistractorTokens.Select(t => (long)t).ToArray(), device: logits.device))
                    return value - logits.index_select(1, distractors).mean([1]);
        }
    }

    /// <summary>
    /// d loss / d final residual <c>[B, T, d_model]</c>, the final layer norm's scale detached (TDB's
    /// <c>LogitReconstituter.make_reconstitute_gradient_of_loss_fn</c>), from a detached copy of the residual.
    /// </summary>
    public Tensor LossGradient(Tensor finalResidual, int position)
    {
        using var _ = enable_grad();
        var residual = finalResidual.detach().requires_grad_(true);
        var hooks = new HookTree();
        if (plan.Spec.DetachLayerNormScale) hooks.Append("resid.ln_f.scale.fwd", StandardHooks.Detach);
        var logits = model.Unembed(residual.narrow(1, position, 1), hooks).Value.squeeze(1);
        return autograd.grad([Loss(logits).sum()], [residual])[0].detach();
    }

    /// <summary>The traced value per sequence <c>[B]</c> from the residual the node reads <c>[B, T, d_model]</c>.</summary>
    /// <param name="residual">The residual before the node (attached to the pass's graph when a gradient is wanted).</param>
    /// <param name="lossGradient">For a V trace: <see cref="LossGradient"/>.</param>
    public Tensor Traced(Tensor residual, Tensor? lossGradient)
    {
        var trace = plan.Trace!;
        if (trace.TraceType == AttributionTraceType.V) return DirectEffect(trace, residual, lossGradient!);
        var spec = new ActivationSpec(trace.NodeType, trace.Layer, PreOrPostAct.Pre,
            trace.TraceType switch
            {
                AttributionTraceType.QK => AttentionTraceType.QK,
                AttributionTraceType.Q => AttentionTraceType.Q,
                AttributionTraceType.K => AttentionTraceType.K,
                _ => null,
            }, plan.Spec.DetachLayerNormScale,
            trace.Splice >= 0 ? plan.Splices.First(s => s.Index == trace.Splice).Set.Name : null);
        var activation = reconstituter.Activation(residual, spec).Value;
        return activation[[TensorIndex.Colon, .. trace.Indices.Select(i => TensorIndex.Single(i))]];
    }

    /// <summary><c>P[q, k, h] (v[k, h] W_O[h]) . g[q]</c> with Q and K detached: the gradient flows only through V.</summary>
    private Tensor DirectEffect(ResolvedTrace trace, Tensor residual, Tensor lossGradient)
    {
        var hooks = new HookTree();
        if (plan.Spec.DetachLayerNormScale) hooks.Append("resid.torso.ln_attn.scale.fwd", StandardHooks.Detach);
        hooks.Append("resid.torso.attn.q.fwd", StandardHooks.Detach).Append("resid.torso.attn.k.fwd", StandardHooks.Detach);
        var attention = model.Layer(trace.Layer).Attention(residual, hooks, AttentionStage.ProbsAndValues);
        long q = trace.Indices[0], k = trace.Indices[1], h = trace.Indices[2], dHead = model.Config.DHead;
        var probability = attention.Probs.Value[TensorIndex.Colon, q, k, h]; // [B]
        var value = attention.Values.Value[TensorIndex.Colon, k, h]; // [B, d_head]
        var write = value.matmul(weights.AttentionOut(trace.Layer).narrow(1, h * dHead, dHead).t()); // [B, d_model]
        return probability * (write * lossGradient[TensorIndex.Colon, q]).sum(-1);
    }
}
