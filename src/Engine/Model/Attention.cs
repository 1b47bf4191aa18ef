using ReconService.Engine.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Model;

/// <summary>How far <see cref="Attention.Forward"/> computes; later stages cost more.</summary>
public enum AttentionStage
{
    /// <summary>Q and K only, up to the masked scores <c>qk_logits</c>.</summary>
    Logits,
    /// <summary>Up to the probabilities <c>qk_probs</c>; V is not computed.</summary>
    Probs,
    /// <summary>Probabilities and V.</summary>
    ProbsAndValues,
    /// <summary>The block's output <c>resid.delta_attn</c>.</summary>
    Output,
}

/// <summary>What <see cref="Attention.Forward"/> computed; fields past the requested stage are default.</summary>
/// <param name="Logits">Masked scores <c>[batch, q, k, heads]</c>, -inf where <c>k &gt; q</c>.</param>
/// <param name="Probs">Softmax over keys <c>[batch, q, k, heads]</c>.</param>
/// <param name="Values">V <c>[batch, tokens, heads, d_head]</c>.</param>
/// <param name="Output">Output projection <c>[batch, tokens, d_model]</c>.</param>
public readonly record struct AttentionResult(Dual Logits, Dual Probs, Dual Values, Dual Output);

/// <summary>
/// Causal multi-head self-attention as TDB's <c>MultiHeadedDotProductSelfAttention</c> computes it: Q and K each
/// scaled by <c>d_head^-1/4</c>, scores in <c>[query, key, head]</c> layout, -inf causal mask, float32 softmax over
/// keys. Hook locations under <c>resid.torso.attn</c>: q, k, v, qk_logits, qk_softmax_denominator, qk_probs, v_out.
/// </summary>
public sealed class Attention : nn.Module
{
#pragma warning disable IDE1006 // fields are named after checkpoint keys
    private readonly Affine q_proj, k_proj, v_proj, out_proj;
#pragma warning restore IDE1006
    private readonly int _nHeads;
    private const string Prefix = "resid.torso.attn.";

    /// <summary>Creates the block from <c>attn.{q,k,v,out}_proj</c> tensors (weights <c>[d_model, d_model]</c>, biases <c>[d_model]</c>).</summary>
    public Attention(string name, IReadOnlyDictionary<string, Tensor> p, string key, int nHeads) : base(name)
    {
        q_proj = new Affine(p, key + ".q_proj");
        k_proj = new Affine(p, key + ".k_proj");
        v_proj = new Affine(p, key + ".v_proj");
        out_proj = new Affine(p, key + ".out_proj");
        _nHeads = nHeads;
        RegisterComponents();
    }

    /// <summary>Runs attention on the layer-normalised input <paramref name="x"/> <c>[batch, tokens, d_model]</c> up to <paramref name="stage"/>.</summary>
    public AttentionResult Forward(Dual x, HookTree hooks, int layer, AttentionStage stage)
    {
        long batch = x.Value.shape[0], tokens = x.Value.shape[1], dModel = x.Value.shape[2], dHead = dModel / _nHeads;
        var scale = Math.Pow(dHead, -0.25);
        var q = hooks.Run(Prefix + "q", q_proj.Forward(x).Reshape(batch, tokens, _nHeads, dHead), layer);
        var k = hooks.Run(Prefix + "k", k_proj.Forward(x).Reshape(batch, tokens, _nHeads, dHead), layer);
        using var mask = ones(tokens, tokens, ScalarType.Bool, device: x.Value.device).triu(1).reshape(1, tokens, tokens, 1);
        var logits = Dual.Einsum("bqhd,bkhd->bqkh", q * scale, k * scale).MaskedFill(mask, double.NegativeInfinity);
        logits = hooks.Run(Prefix + "qk_logits", logits, layer);
        if (stage == AttentionStage.Logits) return new AttentionResult(logits, default, default, default);

        if (hooks.Has(Prefix + "qk_softmax_denominator", layer))
        {
            // Observed or edited only when asked for: softmax itself is computed fused below.
            var shifted = logits - (Dual)logits.Value.amax([2], keepdim: true).detach();
            var exp = new Dual(shifted.Value.exp(), shifted.Tangent is null ? null : shifted.Tangent * shifted.Value.exp());
            var denominator = hooks.Run(Prefix + "qk_softmax_denominator", exp.Sum(2), layer);
            var probsFromDenominator = hooks.Run(Prefix + "qk_probs", exp / denominator, layer);
            return Continue(probsFromDenominator);
        }
        return Continue(hooks.Run(Prefix + "qk_probs", logits.Softmax(2), layer));

        AttentionResult Continue(Dual probs)
        {
            if (stage == AttentionStage.Probs) return new AttentionResult(logits, probs, default, default);
            var v = hooks.Run(Prefix + "v", v_proj.Forward(x).Reshape(batch, tokens, _nHeads, dHead), layer);
            if (stage == AttentionStage.ProbsAndValues) return new AttentionResult(logits, probs, v, default);
            var vOut = hooks.Run(Prefix + "v_out", Dual.Einsum("bqkh,bkhd->bqhd", probs, v), layer);
            var output = out_proj.Forward(vOut.Reshape(batch, tokens, dModel));
            return new AttentionResult(logits, probs, v, output);
        }
    }
}
