namespace ReconService.Engine.Hooks;

/// <summary>
/// Names of the activation locations a forward pass can capture (TDB's <c>ActivationLocationType</c> spellings).
/// </summary>
public static class ActivationLocations
{
    /// <summary>Embedding output <c>[tokens, d_model]</c>; not per layer.</summary>
    public const string ResidPostEmb = "resid.post_emb";
    /// <summary>Residual after a layer's attention block <c>[tokens, d_model]</c>.</summary>
    public const string ResidPostAttn = "resid.post_attn";
    /// <summary>Residual after a layer's MLP block <c>[tokens, d_model]</c>.</summary>
    public const string ResidPostMlp = "resid.post_mlp";
    /// <summary>Attention block output <c>[tokens, d_model]</c>.</summary>
    public const string ResidDeltaAttn = "resid.delta_attn";
    /// <summary>MLP block output <c>[tokens, d_model]</c>.</summary>
    public const string ResidDeltaMlp = "resid.delta_mlp";
    /// <summary>Queries <c>[tokens, heads, d_head]</c>, before the <c>d_head^-1/4</c> scale.</summary>
    public const string AttnQuery = "attn.q";
    /// <summary>Keys <c>[tokens, heads, d_head]</c>, before the <c>d_head^-1/4</c> scale.</summary>
    public const string AttnKey = "attn.k";
    /// <summary>Values <c>[tokens, heads, d_head]</c>.</summary>
    public const string AttnValue = "attn.v";
    /// <summary>Pre-softmax scores <c>[q, k, heads]</c>, -inf where masked.</summary>
    public const string AttnQkLogits = "attn.qk_logits";
    /// <summary>Attention probabilities <c>[q, k, heads]</c>.</summary>
    public const string AttnQkProbs = "attn.qk_probs";
    /// <summary>Per-head attention output before the output projection <c>[tokens, heads, d_head]</c>.</summary>
    public const string AttnVOut = "attn.v_out";
    /// <summary>MLP pre-activations <c>[tokens, d_ff]</c>.</summary>
    public const string MlpPreAct = "mlp.pre_act";
    /// <summary>MLP post-activations <c>[tokens, d_ff]</c>.</summary>
    public const string MlpPostAct = "mlp.post_act";
    /// <summary>Logits <c>[tokens, n_vocab]</c>; not per layer.</summary>
    public const string Logits = "logits";

    /// <summary>Every capturable location.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        ResidPostEmb, ResidPostAttn, ResidPostMlp, ResidDeltaAttn, ResidDeltaMlp, AttnQuery, AttnKey, AttnValue,
        AttnQkLogits, AttnQkProbs, AttnVOut, MlpPreAct, MlpPostAct, Logits,
    ];

    /// <summary>Whether the location exists once per layer (false for <see cref="ResidPostEmb"/> and <see cref="Logits"/>).</summary>
    public static bool IsPerLayer(string location) => location is not (ResidPostEmb or Logits);
}
