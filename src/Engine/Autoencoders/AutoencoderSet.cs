using ReconService.Engine.Loading;
using ReconService.Models;

namespace ReconService.Engine.Autoencoders;

/// <summary>
/// A named family of autoencoders, at most one per layer, all reading one input type
/// (TDB's <c>AutoencoderContext</c>); or a family of transcoders, which read one activation and reconstruct another.
/// </summary>
/// <param name="Name">Name requests use (<c>autoencoder</c>, <c>/v1/autoencoders/{name}</c>).</param>
/// <param name="InputType">The activation every member encodes.</param>
/// <param name="Layers">Autoencoder by layer index.</param>
public sealed record AutoencoderSet(string Name, AutoencoderInputType InputType, IReadOnlyDictionary<int, Autoencoder> Layers) : IDisposable
{
    /// <summary>For transcoders, the activation they reconstruct (<see cref="AutoencoderInputType.ResidDeltaMlp"/>); null for autoencoders.</summary>
    public AutoencoderInputType? OutputType { get; init; }

    /// <summary>Where the family came from and how it was configured.</summary>
    public AutoencoderDescription Description { get; init; } = AutoencoderDescription.Unspecified;

    /// <summary>
    /// The node type of its latents: TDB's <c>attention_autoencoder_latent</c> for <c>resid.delta_attn</c>,
    /// <c>mlp_autoencoder_latent</c> for <c>mlp.post_act</c>, <c>resid.delta_mlp</c> and transcoders (which stand in for
    /// the MLP), and the generic <c>autoencoder_latent</c> for residual-stream autoencoders.
    /// </summary>
    public NodeType NodeType => OutputType is not null
        ? NodeType.MlpAutoencoderLatent
        : InputType switch
        {
            AutoencoderInputType.ResidDeltaAttn => NodeType.AttentionAutoencoderLatent,
            AutoencoderInputType.MlpPostAct or AutoencoderInputType.ResidDeltaMlp => NodeType.MlpAutoencoderLatent,
            _ => NodeType.AutoencoderLatent,
        };

    /// <summary>
    /// The residual stream that latent reconstitution at layer L starts from (<see cref="AutoencoderInputTypes.Residual"/>):
    /// <c>resid.pre</c> (the residual before layer L), <c>resid.post_attn</c> or <c>resid.post_mlp</c> of layer L.
    /// </summary>
    public string Residual => AutoencoderInputTypes.Residual(InputType);

    /// <summary>Disposes every member.</summary>
    public void Dispose()
    {
        foreach (var autoencoder in Layers.Values) autoencoder.Dispose();
    }
}

/// <summary>How a family of autoencoders was stored and configured, for <c>GET /v1/model</c>.</summary>
/// <param name="Format"><c>openai</c> (<c>&lt;layer&gt;.pt</c>), <c>saelens-5</c> (flat <c>cfg.json</c>), <c>saelens-6</c> (<c>cfg.json</c> with <c>metadata</c>), or <c>memory</c>.</param>
/// <param name="Architecture">SAELens's architecture name (<c>standard</c>, <c>topk</c>, <c>jumprelu</c>, <c>batchtopk</c>, <c>transcoder</c>, <c>jumprelu_transcoder</c>); for OpenAI files <c>standard</c> or <c>topk</c>.</param>
/// <param name="InputHook">The TransformerLens hook it reads, with <c>{layer}</c> for the layer (SAELens), or null.</param>
/// <param name="OutputHook">For transcoders, the hook it writes, e.g. <c>blocks.{layer}.hook_mlp_out</c>.</param>
/// <param name="ApplyBDecToInput">Whether the decoder bias is subtracted from the input before encoding.</param>
public sealed record AutoencoderDescription(string Format, string Architecture, string? InputHook = null, string? OutputHook = null,
    bool ApplyBDecToInput = true)
{
    /// <summary>A family built in memory (tests).</summary>
    public static readonly AutoencoderDescription Unspecified = new("memory", "standard");
}
