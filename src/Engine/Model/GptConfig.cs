namespace ReconService.Engine.Model;

/// <summary>
/// Sizes of a GPT-2-family transformer, in TransformerLens's vocabulary.
/// Follows TDB's <c>TransformerConfig</c>: <c>d_ff = 4 * d_model</c>, <c>d_head = d_model / n_heads</c>.
/// </summary>
/// <param name="DModel">Width of the residual stream (<c>d_model</c>).</param>
/// <param name="NLayers">Number of transformer blocks (<c>n_layers</c>).</param>
/// <param name="NHeads">Attention heads per block (<c>n_heads</c>).</param>
/// <param name="NCtx">Context window in tokens (<c>n_ctx</c>; TDB's <c>ctx_window</c>).</param>
/// <param name="NVocab">Vocabulary size (<c>d_vocab</c>).</param>
/// <param name="LayerNormEpsilon">Epsilon added to the variance in every layer norm.</param>
public sealed record GptConfig(int DModel, int NLayers, int NHeads, int NCtx, int NVocab, double LayerNormEpsilon = 1e-5)
{
    /// <summary>Width of one attention head (<c>d_head = d_model / n_heads</c>).</summary>
    public int DHead => DModel / NHeads;

    /// <summary>Width of the MLP hidden layer (<c>d_ff = 4 * d_model</c>).</summary>
    public int DFf => 4 * DModel;
}
