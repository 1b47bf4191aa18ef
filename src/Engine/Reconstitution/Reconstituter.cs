using ReconService.Engine.Autoencoders;
using ReconService.Engine.Hooks;
using ReconService.Engine.Model;
using ReconService.Models;

namespace ReconService.Engine.Reconstitution;

/// <summary>
/// TDB's <c>reconstituted.py</c> over <see cref="Dual"/> values: each function takes the residual stream that
/// precedes a node, <c>[batch, tokens, d_model]</c>, builds the request's hook tree (layer-norm scale and Q/K/V
/// detach hooks) and recomputes only what the node needs. Arguments are assumed validated
/// (<see cref="RequestValidator"/>).
/// </summary>
internal sealed class Reconstituter(Transformer model, IReadOnlyDictionary<string, AutoencoderSet> autoencoders)
{
    /// <summary>The activation of <paramref name="spec"/> <c>[batch, ...]</c>; see <see cref="Operations.ActivationsOperation"/>.</summary>
    public Dual Activation(Dual resid, ActivationSpec spec, HookTree? hooks = null)
    {
        hooks ??= new HookTree();
        AddLayerNormHooks(hooks, spec.DetachLayerNormScale);
        var layer = model.Layer(spec.LayerIndex);
        switch (spec.NodeType)
        {
            case NodeType.AttentionHead:
                AddTraceHooks(hooks, spec.AttentionTraceType!.Value);
                var stage = spec.PreOrPostAct == PreOrPostAct.Pre ? AttentionStage.Logits : AttentionStage.Probs;
                var attention = layer.Attention(resid, hooks, stage);
                return stage == AttentionStage.Logits ? attention.Logits : attention.Probs;
            case NodeType.MlpNeuron:
                return spec.PreOrPostAct == PreOrPostAct.Pre ? layer.MlpPreAct(resid, hooks) : layer.MlpPostAct(resid, hooks);
            default:
                var set = autoencoders[spec.Autoencoder!];
                var autoencoder = set.Layers[spec.LayerIndex];
                var encoded = AutoencoderInput(layer, set.InputType, resid, hooks);
                if (spec.PreOrPostAct == PreOrPostAct.Pre) return autoencoder.EncodePreAct(encoded, spec.LatentSlice);
                var latents = autoencoder.Encode(encoded);
                return spec.LatentSlice is { } s ? latents.Narrow(-1, s.Start, s.Stop - s.Start) : latents;
        }
    }

    /// <summary><c>resid.delta_attn</c> <c>[batch, tokens, d_model]</c> (TDB's <c>apply_resid_delta_attn</c>).</summary>
    public Dual ResidDeltaAttn(Dual resid, int layerIndex, bool detachLayerNormScale) =>
        model.Layer(layerIndex).DeltaAttn(resid, AddLayerNormHooks(new HookTree(), detachLayerNormScale));

    /// <summary><c>resid.delta_mlp</c> <c>[batch, tokens, d_model]</c> (TDB's <c>apply_resid_delta_mlp</c>).</summary>
    public Dual ResidDeltaMlp(Dual resid, int layerIndex, bool detachLayerNormScale) =>
        model.Layer(layerIndex).DeltaMlp(resid, AddLayerNormHooks(new HookTree(), detachLayerNormScale));

    /// <summary>Probs <c>[batch, q, k, heads]</c> and V <c>[batch, tokens, heads, d_head]</c> (TDB's <c>make_apply_attn_V_act</c>).</summary>
    public (Dual Probs, Dual Values) AttentionValues(Dual resid, int layerIndex, bool detachLayerNormScale, AttentionTraceType? traceType)
    {
        var hooks = AddLayerNormHooks(new HookTree(), detachLayerNormScale);
        if (traceType is { } t) AddTraceHooks(hooks, t);
        var result = model.Layer(layerIndex).Attention(resid, hooks, AttentionStage.ProbsAndValues);
        return (result.Probs, result.Values);
    }

    /// <summary>Logits <c>[batch, tokens, n_vocab]</c> from the final residual (TDB's <c>make_apply_logits</c>).</summary>
    public Dual Logits(Dual resid, bool detachLayerNormScale) =>
        model.Unembed(resid, AddLayerNormHooks(new HookTree(), detachLayerNormScale));

    /// <summary>Log-probabilities <c>[batch, tokens, n_vocab]</c> (TDB's <c>make_apply_logprobs</c>).</summary>
    public Dual Logprobs(Dual resid, bool detachLayerNormScale) => Logits(resid, detachLayerNormScale).LogSoftmax(-1);

    /// <summary>
    /// The autoencoder's input from the residual it is reconstituted from (<see cref="AutoencoderSet.Residual"/>): a block's
    /// activation, the MLP's normalised input, or the residual itself for residual-stream autoencoders.
    /// </summary>
    private static Dual AutoencoderInput(TransformerLayer layer, AutoencoderInputType inputType, Dual resid, HookTree hooks) =>
        inputType switch
        {
            AutoencoderInputType.MlpPostAct => layer.MlpPostAct(resid, hooks),
            AutoencoderInputType.ResidDeltaMlp => layer.DeltaMlp(resid, hooks),
            AutoencoderInputType.ResidDeltaAttn => layer.DeltaAttn(resid, hooks),
            AutoencoderInputType.Ln2Normalized => layer.MlpNormalizedInput(resid, hooks),
            _ => resid,
        };

    /// <summary>TDB's <c>apply_layer_norm</c> with <c>detach_layer_norm_scale</c>: a detach hook on every norm's scale.</summary>
    private static HookTree AddLayerNormHooks(HookTree hooks, bool detach)
    {
        if (!detach) return hooks;
        foreach (var norm in new[] { "resid.torso.ln_attn", "resid.torso.ln_mlp", "resid.ln_f" })
            hooks.Append(norm + ".scale.fwd", StandardHooks.Detach);
        return hooks;
    }

    /// <summary>TDB's <c>add_q_k_or_v_detach_hook</c>: for Q or K tracing, everything else among Q, K, V is detached.</summary>
    private static void AddTraceHooks(HookTree hooks, AttentionTraceType traceType)
    {
        if (traceType == AttentionTraceType.QK) return;
        if (traceType != AttentionTraceType.Q) hooks.Append("resid.torso.attn.q.fwd", StandardHooks.Detach);
        if (traceType != AttentionTraceType.K) hooks.Append("resid.torso.attn.k.fwd", StandardHooks.Detach);
        hooks.Append("resid.torso.attn.v.fwd", StandardHooks.Detach);
    }
}
