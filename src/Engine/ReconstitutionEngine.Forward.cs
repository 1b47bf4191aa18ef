using ReconService.Engine.Hooks;
using ReconService.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine;

public sealed partial class ReconstitutionEngine
{
    /// <summary>Hook location of each capturable activation location.</summary>
    private static readonly Dictionary<string, string> CaptureHooks = new()
    {
        [ActivationLocations.ResidPostEmb] = "resid.post_emb",
        [ActivationLocations.ResidPostAttn] = "resid.torso.post_attn",
        [ActivationLocations.ResidPostMlp] = "resid.torso.post_mlp",
        [ActivationLocations.ResidDeltaAttn] = "resid.torso.delta_attn",
        [ActivationLocations.ResidDeltaMlp] = "resid.torso.delta_mlp",
        [ActivationLocations.AttnQuery] = "resid.torso.attn.q",
        [ActivationLocations.AttnKey] = "resid.torso.attn.k",
        [ActivationLocations.AttnValue] = "resid.torso.attn.v",
        [ActivationLocations.AttnQkLogits] = "resid.torso.attn.qk_logits",
        [ActivationLocations.AttnQkProbs] = "resid.torso.attn.qk_probs",
        [ActivationLocations.AttnVOut] = "resid.torso.attn.v_out",
        [ActivationLocations.MlpPreAct] = "resid.torso.mlp.pre_act",
        [ActivationLocations.MlpPostAct] = "resid.torso.mlp.post_act",
        [ActivationLocations.Logits] = "logits",
    };

    /// <summary>
    /// A forward pass over <paramref name="tokens"/> (<c>[tokens]</c> or <c>[batch, tokens]</c>, int64) capturing the named
    /// activation locations (<see cref="ActivationLocations"/>) at the given layers (all when null). The results belong
    /// to the caller's dispose scope (or to the returned object's <see cref="ForwardResult.Dispose"/>). Each layer's
    /// intermediates are freed once the layer is done, so the pass holds one layer's working memory at a time besides
    /// the residual stream, the captures and the logits.
    /// </summary>
    /// <exception cref="ReconstitutionException">Token ids, locations or layers out of range.</exception>
    public ForwardResult Forward(Tensor tokens, IReadOnlyCollection<string> capture, IReadOnlyCollection<int>? layers = null)
    {
        if (tokens.dtype != ScalarType.Int64)
            throw new ReconstitutionException("tokens", $"expected int64 token ids, got {tokens.dtype}");
        if (tokens.dim() is not (1 or 2) || tokens.shape[^1] < 1 || tokens.shape[^1] > Config.NCtx || tokens.shape[0] < 1)
            throw new ReconstitutionException("tokens",
                $"expected [tokens] or [batch, tokens] with 1 <= tokens <= n_ctx ({Config.NCtx}), got {Loading.TensorChecks.Format(tokens.shape)}");
        using (var check = NewDisposeScope())
        {
            long min = tokens.min().item<long>(), max = tokens.max().item<long>();
            if (min < 0 || max >= Config.NVocab)
                throw new ReconstitutionException("tokens", $"expected token ids in [0, n_vocab) = [0, {Config.NVocab}), got values in [{min}, {max}]");
        }
        foreach (var location in capture)
            if (!CaptureHooks.ContainsKey(location))
                throw new ReconstitutionException("capture", $"unknown location '{location}'; expected one of {string.Join(", ", ActivationLocations.All)}");
        foreach (var layer in layers ?? []) _validate.Layer(layer, "layers");

        var batched = tokens.dim() == 2;
        // Captures and logits go to the caller's scope (or to none); everything else the pass makes dies with its layer.
        var caller = CurrentDisposeScope;
        Tensor Keep(Tensor t) => caller is null ? t.DetachFromDisposeScope() : t.MoveToOtherDisposeScope(caller);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var captured = new Dictionary<string, Dictionary<int, Tensor>>();
        var hooks = new HookTree();
        foreach (var location in capture.Distinct())
        {
            var byLayer = captured[location] = [];
            var perLayer = ActivationLocations.IsPerLayer(location);
            hooks.Append(CaptureHooks[location] + ".fwd", (x, context) =>
            {
                byLayer[context.Layer ?? -1] = Keep(Finish(x.Value, batched));
                return x;
            }, perLayer ? layers : null);
        }
        var input = tokens.to(_device);
        var resid = _model.Embed(batched ? input : input.unsqueeze(0), hooks).Value;
        for (var layer = 0; layer < Config.NLayers; layer++)
        {
            // A layer's intermediates (attention scores, MLP activations) are freed before the next layer runs.
            using var layerScope = NewDisposeScope();
            resid = _model.Layer(layer).Forward(resid, hooks).Value.MoveToOuterDisposeScope();
        }
        var logits = Keep(Finish(_model.Unembed(resid, hooks).Value, batched));
        return new ForwardResult(logits, captured.ToDictionary(c => c.Key, c => (IReadOnlyDictionary<int, Tensor>)c.Value));
    }
}
