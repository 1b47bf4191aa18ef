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

/// <summary>The kind of activation an autoencoder was trained on (TDB's derived scalar type).</summary>
[JsonConverter(typeof(StrictEnumConverter<AutoencoderInputType>))]
public enum AutoencoderInputType
{
    /// <summary><c>mlp.post_act</c>, width <c>d_ff</c>.</summary>
    [JsonStringEnumMemberName("mlp.post_act")] MlpPostAct,
    /// <summary><c>resid.delta_mlp</c>, width <c>d_model</c>.</summary>
    [JsonStringEnumMemberName("resid.delta_mlp")] ResidDeltaMlp,
    /// <summary><c>resid.delta_attn</c>, width <c>d_model</c>.</summary>
    [JsonStringEnumMemberName("resid.delta_attn")] ResidDeltaAttn,
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
}

/// <summary>A half-open range <c>[start, stop)</c> of autoencoder latents.</summary>
/// <param name="Start">First latent, inclusive.</param>
/// <param name="Stop">Last latent, exclusive.</param>
public sealed record LatentSlice(int Start, int Stop);
