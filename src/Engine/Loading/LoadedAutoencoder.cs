using ReconService.Engine.Autoencoders;
using ReconService.Models;

namespace ReconService.Engine.Loading;

/// <summary>One autoencoder as read from disk, with where it came from, before the folder's layers are checked together.</summary>
/// <param name="Layer">Layer index it belongs to.</param>
/// <param name="Path">File (OpenAI layout) or folder (SAELens layout) it was read from.</param>
/// <param name="InputType">The activation it encodes.</param>
/// <param name="Autoencoder">Its weights, still in the loader's dispose scope.</param>
internal sealed record LoadedAutoencoder(int Layer, string Path, AutoencoderInputType InputType, Autoencoder Autoencoder);
