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
/// <param name="Activation">The MLP's nonlinearity (Hugging Face's <c>activation_function</c>); GPT-2's is the tanh form.</param>
public sealed record GptConfig(int DModel, int NLayers, int NHeads, int NCtx, int NVocab, double LayerNormEpsilon = 1e-5,
    MlpActivation Activation = MlpActivation.GeluTanh)
{
    /// <summary>Width of one attention head (<c>d_head = d_model / n_heads</c>).</summary>
    public int DHead => DModel / NHeads;

    /// <summary>Width of the MLP hidden layer (<c>d_ff = 4 * d_model</c>).</summary>
    public int DFf => 4 * DModel;
}

/// <summary>The MLP nonlinearity <c>mlp.post_act = f(mlp.pre_act)</c>.</summary>
public enum MlpActivation
{
    /// <summary>
    /// GPT-2's tanh approximation <c>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))</c> (Hugging Face <c>gelu_new</c>,
    /// <c>gelu_pytorch_tanh</c>, <c>gelu_fast</c>; TDB's only form).
    /// </summary>
    GeluTanh,
    /// <summary>The exact GELU <c>x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))</c> (Hugging Face <c>gelu</c>, <c>gelu_python</c>).</summary>
    GeluErf,
}
