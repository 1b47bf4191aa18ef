using System.ComponentModel;
using ReconService.Models.Tensors;

namespace ReconService.Models.Wire;

/// <summary>Fields every request with tensor outputs accepts.</summary>
public abstract record TensorRequest
{
    /// <summary><c>base64</c> (default) or <c>list</c>: how the response writes its tensors.</summary>
    [DefaultValue(TensorEncoding.Base64)]
    public TensorEncoding OutputEncoding { get; init; } = TensorEncoding.Base64;

    /// <summary>
    /// Which part of each answer tensor to return, and in which dtype: <c>positions</c>, <c>indices</c>, <c>topK</c>
    /// with <c>by</c>, <c>dtype</c>, applied in that order after the computation (with <c>topK</c> each tensor field
    /// <c>X</c> gains an int32 sibling <c>XIndices</c>). Omitted: every tensor whole, as float32.
    /// </summary>
    public OutputSpec? Output { get; init; }
}

/// <summary>
/// <c>POST /v1/activations</c>: the activation of a node type recomputed from the residual stream before it
/// (TDB's <c>make_reconstituted_activation_fn</c>).
/// </summary>
public record ActivationsRequest : TensorRequest
{
    /// <summary>Residual stream <c>[tokens, d_model]</c> or <c>[batch, tokens, d_model]</c>: <c>resid.post_mlp</c> of the previous layer (or <c>resid.post_emb</c>) for attention nodes, <c>resid.post_attn</c> of the layer for MLP nodes.</summary>
    public required TensorPayload Residual { get; init; }
    /// <summary>Layer of the node, <c>0 &lt;= layerIndex &lt; nLayers</c>.</summary>
    public required int LayerIndex { get; init; }
    /// <summary>Node type (TDB spelling).</summary>
    public required NodeType NodeType { get; init; }
    /// <summary><c>pre</c> or <c>post</c> the nonlinearity.</summary>
    public required PreOrPostAct PreOrPostAct { get; init; }
    /// <summary><c>forward</c> (default); <c>backward</c> is rejected.</summary>
    [DefaultValue(PassType.Forward)]
    public PassType PassType { get; init; } = PassType.Forward;
    /// <summary>Attention nodes only: <c>QK</c>, <c>Q</c> or <c>K</c>.</summary>
    public AttentionTraceType? AttentionTraceType { get; init; }
    /// <summary>Treat layer-norm scales as constants in derivatives (default true).</summary>
    [DefaultValue(true)]
    public bool DetachLayerNormScale { get; init; } = true;
    /// <summary>Latent nodes: the configured autoencoder, when several could serve.</summary>
    public string? Autoencoder { get; init; }
    /// <summary>Latent nodes: only latents <c>[start, stop)</c>.</summary>
    public LatentSlice? LatentSlice { get; init; }
}

/// <summary><c>POST /v1/gradients</c>: d activation[tensorIndices] / d residual.</summary>
public sealed record GradientsRequest : ActivationsRequest
{
    /// <summary>One index per activation axis (the batch axis excluded), e.g. <c>[token, neuron]</c> or <c>[q, k, head]</c>.</summary>
    public required long[] TensorIndices { get; init; }
}

/// <summary><c>POST /v1/jvp</c>: Jacobian of the activation times a write vector.</summary>
public sealed record JvpRequest : ActivationsRequest
{
    /// <summary>Direction in residual space, shaped like <c>residual</c>.</summary>
    public required TensorPayload WriteVector { get; init; }
}

/// <summary><c>POST /v1/resid-deltas/attn</c> and <c>/mlp</c>: a block's output from the residual before it.</summary>
public record ResidDeltaRequest : TensorRequest
{
    /// <summary>Residual before the block: <c>[tokens, d_model]</c> or batched.</summary>
    public required TensorPayload Residual { get; init; }
    /// <summary>Layer of the block.</summary>
    public required int LayerIndex { get; init; }
    /// <summary>Treat layer-norm scales as constants (default true).</summary>
    [DefaultValue(true)]
    public bool DetachLayerNormScale { get; init; } = true;
}

/// <summary><c>POST /v1/attention-values</c>: attention probabilities and values of a layer.</summary>
public sealed record AttentionValuesRequest : ResidDeltaRequest
{
    /// <summary>Optional <c>QK</c>, <c>Q</c> or <c>K</c>.</summary>
    public AttentionTraceType? AttentionTraceType { get; init; }
}

/// <summary><c>POST /v1/logits</c> and <c>/v1/logprobs</c>: unembedding of the final residual.</summary>
public sealed record LogitsRequest : TensorRequest
{
    /// <summary>The final layer's <c>resid.post_mlp</c>, <c>[tokens, d_model]</c> or batched.</summary>
    public required TensorPayload Residual { get; init; }
    /// <summary>Treat the final layer norm's scale as a constant (default true).</summary>
    [DefaultValue(true)]
    public bool DetachLayerNormScale { get; init; } = true;
}

/// <summary><c>POST /v1/autoencoders/{name}/encode</c>: latents of an autoencoder.</summary>
public record EncodeRequest : TensorRequest
{
    /// <summary>Raw input of the autoencoder (<c>[tokens, n_inputs]</c> or batched), e.g. <c>mlp.post_act</c>.</summary>
    public required TensorPayload Activations { get; init; }
    /// <summary>Layer whose autoencoder to use.</summary>
    public required int LayerIndex { get; init; }
}

/// <summary><c>POST /v1/autoencoders/{name}/latent-gradient</c>: d(sum over tokens of a latent) / d activations.</summary>
public sealed record LatentGradientRequest : EncodeRequest
{
    /// <summary>Latent to differentiate, <c>0 &lt;= latentIndex &lt; nLatents</c>.</summary>
    public required int LatentIndex { get; init; }
}
