using ReconService.Models;

namespace ReconService.Engine.Autoencoders;

/// <summary>
/// A named family of autoencoders, at most one per layer, all trained on one input type
/// (TDB's <c>AutoencoderContext</c>).
/// </summary>
/// <param name="Name">Name requests use (<c>autoencoder</c>, <c>/v1/autoencoders/{name}</c>).</param>
/// <param name="InputType">The activation every member encodes.</param>
/// <param name="Layers">Autoencoder by layer index.</param>
public sealed record AutoencoderSet(string Name, AutoencoderInputType InputType, IReadOnlyDictionary<int, Autoencoder> Layers) : IDisposable
{
    /// <summary>The node type TDB gives latents of this input type.</summary>
    public NodeType NodeType => InputType == AutoencoderInputType.ResidDeltaAttn
        ? NodeType.AttentionAutoencoderLatent : NodeType.MlpAutoencoderLatent;

    /// <summary>Disposes every member.</summary>
    public void Dispose()
    {
        foreach (var autoencoder in Layers.Values) autoencoder.Dispose();
    }
}
