using System.Text.Json.Serialization;

namespace ReconService.Models;

/// <summary>Kind of node whose activation is reconstituted; TDB's <c>NodeType</c> spellings.</summary>
[JsonConverter(typeof(StrictEnumConverter<NodeType>))]
public enum NodeType
{
    /// <summary>An attention head: activations are qk logits (pre) or probs (post), <c>[q, k, heads]</c>.</summary>
    [JsonStringEnumMemberName("attention_head")] AttentionHead,
    /// <summary>An MLP neuron: activations are <c>mlp.pre_act</c> or <c>mlp.post_act</c>, <c>[tokens, d_ff]</c>.</summary>
    [JsonStringEnumMemberName("mlp_neuron")] MlpNeuron,
    /// <summary>A latent of any autoencoder: <c>[tokens, n_latents]</c>.</summary>
    [JsonStringEnumMemberName("autoencoder_latent")] AutoencoderLatent,
    /// <summary>A latent of an autoencoder on <c>mlp.post_act</c> or <c>resid.delta_mlp</c>.</summary>
    [JsonStringEnumMemberName("mlp_autoencoder_latent")] MlpAutoencoderLatent,
    /// <summary>A latent of an autoencoder on <c>resid.delta_attn</c>.</summary>
    [JsonStringEnumMemberName("attention_autoencoder_latent")] AttentionAutoencoderLatent,
}

/// <summary>Before or after the node's nonlinearity; TDB's <c>PreOrPostAct</c>.</summary>
[JsonConverter(typeof(StrictEnumConverter<PreOrPostAct>))]
public enum PreOrPostAct
{
    /// <summary>Before the nonlinearity (qk logits, <c>mlp.pre_act</c>, latent pre-activations).</summary>
    [JsonStringEnumMemberName("pre")] Pre,
    /// <summary>After the nonlinearity (qk probs, <c>mlp.post_act</c>, latents).</summary>
    [JsonStringEnumMemberName("post")] Post,
}

/// <summary>TDB's <c>PassType</c>. Only <see cref="Forward"/> can be reconstituted.</summary>
[JsonConverter(typeof(StrictEnumConverter<PassType>))]
public enum PassType
{
    /// <summary>The forward pass.</summary>
    [JsonStringEnumMemberName("forward")] Forward,
    /// <summary>The backward pass: rejected by every reconstitution.</summary>
    [JsonStringEnumMemberName("backward")] Backward,
}

/// <summary>
/// Which of Q and K stay attached to the graph for attention nodes (TDB's <c>AttentionTraceType</c>).
/// Values are the same for all three; gradients and JVPs differ.
/// </summary>
[JsonConverter(typeof(StrictEnumConverter<AttentionTraceType>))]
public enum AttentionTraceType
{
    /// <summary>Nothing detached.</summary>
    QK,
    /// <summary>K and V detached: only the query path carries derivatives.</summary>
    Q,
    /// <summary>Q and V detached: only the key path carries derivatives.</summary>
    K,
}

/// <summary>
/// The kind of activation an autoencoder reads (TDB's derived scalar type; TDB's activation-location spellings), and for a
/// transcoder also the kind it writes.
/// </summary>
[JsonConverter(typeof(StrictEnumConverter<AutoencoderInputType>))]
public enum AutoencoderInputType
{
    /// <summary><c>mlp.post_act</c>, width <c>d_ff</c> (TransformerLens <c>blocks.L.mlp.hook_post</c>).</summary>
    [JsonStringEnumMemberName("mlp.post_act")] MlpPostAct,
    /// <summary><c>resid.delta_mlp</c>, the MLP block's output, width <c>d_model</c> (<c>blocks.L.hook_mlp_out</c>).</summary>
    [JsonStringEnumMemberName("resid.delta_mlp")] ResidDeltaMlp,
    /// <summary><c>resid.delta_attn</c>, the attention block's output, width <c>d_model</c> (<c>blocks.L.hook_attn_out</c>).</summary>
    [JsonStringEnumMemberName("resid.delta_attn")] ResidDeltaAttn,
    /// <summary>
    /// <c>resid.pre</c>: the residual stream before layer L (<c>resid.post_emb</c> for L = 0, else <c>resid.post_mlp</c> of
    /// L - 1), width <c>d_model</c> (<c>blocks.L.hook_resid_pre</c>).
    /// </summary>
    [JsonStringEnumMemberName("resid.pre")] ResidPre,
    /// <summary><c>resid.post_attn</c> of layer L, width <c>d_model</c> (<c>blocks.L.hook_resid_mid</c>, <c>blocks.L.hook_mlp_in</c>).</summary>
    [JsonStringEnumMemberName("resid.post_attn")] ResidPostAttn,
    /// <summary><c>resid.post_mlp</c> of layer L, width <c>d_model</c> (<c>blocks.L.hook_resid_post</c>).</summary>
    [JsonStringEnumMemberName("resid.post_mlp")] ResidPostMlp,
    /// <summary>
    /// <c>ln_2.normalized</c>: the MLP's input after layer-norm centring and scaling but before its weight and bias,
    /// <c>c / sqrt(mean(c^2) + eps)</c> of <c>resid.post_attn</c>, width <c>d_model</c> (<c>blocks.L.ln2.hook_normalized</c>).
    /// </summary>
    [JsonStringEnumMemberName("ln_2.normalized")] Ln2Normalized,
}

/// <summary>Nonlinearity applied to autoencoder latent pre-activations.</summary>
[JsonConverter(typeof(StrictEnumConverter<AutoencoderActivation>))]
public enum AutoencoderActivation
{
    /// <summary><c>max(0, x)</c>.</summary>
    ReLU,
    /// <summary>No nonlinearity.</summary>
    Identity,
    /// <summary>Keep the k largest pre-activations of each row, apply the post-activation function, zero the rest.</summary>
    TopK,
    /// <summary><c>relu(x) * (x &gt; threshold)</c> with a threshold per latent (SAELens <c>jumprelu</c>, and <c>batchtopk</c>'s inference form).</summary>
    JumpReLU,
}

/// <summary>How an autoencoder rescales its input before encoding (SAELens <c>normalize_activations</c>).</summary>
[JsonConverter(typeof(StrictEnumConverter<AutoencoderNormalization>))]
public enum AutoencoderNormalization
{
    /// <summary>No rescaling.</summary>
    [JsonStringEnumMemberName("none")] None,
    /// <summary><c>x * sqrt(d_in) / ||x||</c> per row; the reconstruction is divided by the same factor.</summary>
    [JsonStringEnumMemberName("constant_norm_rescale")] ConstantNormRescale,
    /// <summary>
    /// <c>(x - mean(x)) / (std(x) + 1e-5)</c> per row, <c>std</c> with Bessel's correction (n - 1) as <c>torch.std</c>;
    /// the reconstruction is multiplied by <c>std</c> and shifted by <c>mean</c>.
    /// </summary>
    [JsonStringEnumMemberName("layer_norm")] LayerNorm,
}

/// <summary>A half-open range <c>[start, stop)</c> of autoencoder latents.</summary>
/// <param name="Start">First latent, inclusive.</param>
/// <param name="Stop">Last latent, exclusive.</param>
public sealed record LatentSlice(int Start, int Stop);
