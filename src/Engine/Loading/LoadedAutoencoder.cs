using ReconService.Engine.Autoencoders;
using ReconService.Models;

namespace ReconService.Engine.Loading;

/// <summary>One autoencoder as read from disk, with where it came from, before the folder's layers are checked together.</summary>
/// <param name="Layer">Layer index it belongs to.</param>
/// <param name="Path">File (OpenAI layout) or folder (SAELens layout) it was read from.</param>
/// <param name="InputType">The activation it encodes.</param>
/// <param name="Autoencoder">Its weights, still in the loader's dispose scope.</param>
/// <param name="Description">Format, architecture and hooks, with <c>{layer}</c> in place of the layer.</param>
/// <param name="OutputType">For a transcoder, the activation it reconstructs.</param>
internal sealed record LoadedAutoencoder(int Layer, string Path, AutoencoderInputType InputType, Autoencoder Autoencoder,
    AutoencoderDescription Description, AutoencoderInputType? OutputType = null);
