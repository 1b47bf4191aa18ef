namespace ReconService.Engine.Loading;

/// <summary>Loads a GPT-2-family model from a folder, in either layout the reference uses.</summary>
public static class ModelLoader
{
    /// <summary>
    /// Loads the model in <paramref name="folder"/>: TDB's checkpoint layout when it has a <c>model_pieces/</c> folder
    /// (<c>config.json</c> with <c>d_model</c>, <c>n_layers</c>, <c>n_heads</c>, <c>ctx_window</c>; one <c>torch.save</c>d
    /// tensor per parameter), else the Hugging Face GPT-2 layout (<c>config.json</c> with <c>n_embd</c>, <c>n_layer</c>,
    /// <c>n_head</c>, <c>n_positions</c> or <c>n_ctx</c>, <c>vocab_size</c>, <c>layer_norm_epsilon</c>; <c>model.safetensors</c>
    /// in F32, F16 or BF16, keys with or without a <c>transformer.</c> prefix).
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="log">Receives what was tolerated rather than refused (skipped empty tensors, mask buffers), one line each.</param>
    /// <returns>
    /// Every parameter under TDB's names, float32 on the CPU, with the shapes <see cref="GptCheckpoint"/> lists
    /// (Hugging Face <c>Conv1D</c> weights transposed to <c>[out, in]</c>, <c>c_attn</c> split into q/k/v,
    /// <c>unembed.weight</c> a copy of <c>tok_embed.weight</c> when <c>lm_head.weight</c> is absent).
    /// The caller owns the result.
    /// </returns>
    /// <exception cref="WeightLoadException">
    /// The folder or a file is missing; a tensor is missing, unexpected, of the wrong shape or of an unsupported dtype;
    /// a file is truncated or corrupt; a configuration key asks for something this model does not compute (an activation
    /// function other than GELU, d_ff other than 4 d_model, unscaled attention, ...). The message names the file and the
    /// tensor or key.
    /// </exception>
    public static GptCheckpoint Load(string folder, Action<string>? log = null)
    {
        if (!Directory.Exists(folder)) throw new WeightLoadException(folder, "model folder not found");
        if (Directory.Exists(Path.Combine(folder, "model_pieces"))) return TdbCheckpointLoader.Load(folder, log);
        if (File.Exists(Path.Combine(folder, "model.safetensors"))) return HuggingFaceGpt2Loader.Load(folder, log);
        throw new WeightLoadException(folder,
            "not a model folder: expected model.safetensors (Hugging Face GPT-2 layout) or model_pieces/ (TDB checkpoint layout)");
    }
}
