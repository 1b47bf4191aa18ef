using ReconService.Models;

namespace ReconService.Engine;

/// <summary>What <c>ReconstitutionEngine.Load</c> loads.</summary>
/// <param name="ModelPath">A Hugging Face GPT-2 folder (<c>config.json</c> + <c>model.safetensors</c>) or a TDB checkpoint folder (<c>config.json</c> + <c>model_pieces/</c>); the layout is detected.</param>
/// <param name="Autoencoders">Autoencoder families to load, each named as requests will name it.</param>
/// <param name="Device"><c>cpu</c>, <c>cuda</c> or <c>auto</c> (CUDA when available).</param>
/// <param name="Log">
/// Receives one line for each thing the loaders tolerated instead of refusing (an extra tensor that holds nothing, mask
/// buffers); null drops them.
/// </param>
public sealed record EngineOptions(string ModelPath, IReadOnlyList<AutoencoderSource> Autoencoders, string Device = "cpu",
    Action<string>? Log = null);

/// <summary>One autoencoder family on disk.</summary>
/// <param name="Name">Name requests use.</param>
/// <param name="Path">Folder of per-layer autoencoders: OpenAI/TDB <c>&lt;layer&gt;.pt</c> files, or SAELens sub-folders with <c>cfg.json</c> + <c>sae_weights.safetensors</c>.</param>
/// <param name="InputType">Needed when neither the layout nor the path says which activation it encodes.</param>
/// <param name="CenterWritingWeights">
/// Overrides SAELens's <c>model_from_pretrained_kwargs.center_writing_weights</c> (e.g. for releases whose published
/// <c>cfg.json</c> omits it); null keeps what the files say.
/// </param>
public sealed record AutoencoderSource(string Name, string Path, AutoencoderInputType? InputType = null, bool? CenterWritingWeights = null);
