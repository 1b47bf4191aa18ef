namespace ReconService.Models.Wire;

/// <summary><c>GET /v1/model</c>: what the service serves.</summary>
/// <param name="Config">Model sizes.</param>
/// <param name="Device">Where the weights live (<c>cpu</c> or <c>cuda</c>).</param>
/// <param name="Dtype">Element type of the weights and of every output (<c>float32</c>).</param>
/// <param name="Autoencoders">Loaded autoencoder families.</param>
public sealed record ModelInfoResponse(ModelConfigInfo Config, string Device, string Dtype, AutoencoderInfoResponse[] Autoencoders);

/// <summary>Model sizes in TransformerLens's vocabulary, and the MLP's nonlinearity.</summary>
/// <param name="DModel">Residual width.</param>
/// <param name="NLayers">Layers.</param>
/// <param name="NHeads">Attention heads per layer.</param>
/// <param name="DHead">Width of one head.</param>
/// <param name="DFf">MLP hidden width.</param>
/// <param name="NCtx">Context window in tokens.</param>
/// <param name="NVocab">Vocabulary size.</param>
/// <param name="ActivationFunction">Hugging Face's name for the MLP nonlinearity: <c>gelu_new</c> (GPT-2's tanh form) or <c>gelu</c> (erf).</param>
public sealed record ModelConfigInfo(int DModel, int NLayers, int NHeads, int DHead, int DFf, int NCtx, int NVocab, string? ActivationFunction = null);

/// <summary>One loaded autoencoder family.</summary>
/// <param name="Name">Name requests use.</param>
/// <param name="InputType">Activation it encodes.</param>
/// <param name="NodeType">Node type of its latents.</param>
/// <param name="Layers">Layers that have one.</param>
/// <param name="NLatents">Latents per layer.</param>
/// <param name="NInputs">Width of its input.</param>
/// <param name="Activation">Nonlinearity.</param>
/// <param name="K">Latents kept per row, for TopK.</param>
/// <param name="Architecture">SAELens's architecture name (<c>standard</c>, <c>topk</c>, <c>jumprelu</c>, <c>batchtopk</c>, <c>transcoder</c>, <c>jumprelu_transcoder</c>).</param>
/// <param name="Format">On-disk layout: <c>openai</c>, <c>saelens-5</c> or <c>saelens-6</c>.</param>
/// <param name="Residual">
/// The residual a latent request at layer L sends: <c>resid.pre</c> (before layer L: <c>resid.post_emb</c> for L = 0, else
/// <c>resid.post_mlp</c> of L - 1), <c>resid.post_attn</c> or <c>resid.post_mlp</c> of layer L.
/// </param>
/// <param name="InputHook">The TransformerLens hook it reads, <c>{layer}</c> standing for the layer (SAELens files).</param>
/// <param name="OutputType">For transcoders, the activation they reconstruct (<c>resid.delta_mlp</c>).</param>
/// <param name="OutputHook">For transcoders, the hook they write.</param>
/// <param name="NOutputs">Width of the reconstruction.</param>
/// <param name="Threshold">For JumpReLU, the range of its per-latent thresholds over every layer.</param>
/// <param name="Preprocessing">What is done to the input before encoding.</param>
public sealed record AutoencoderInfoResponse(string Name, AutoencoderInputType InputType, NodeType NodeType, int[] Layers,
    int NLatents, int NInputs, AutoencoderActivation Activation, int? K, string? Architecture = null, string? Format = null,
    string? Residual = null, string? InputHook = null, AutoencoderInputType? OutputType = null, string? OutputHook = null,
    int? NOutputs = null, ThresholdRange? Threshold = null, AutoencoderPreprocessingInfo? Preprocessing = null);

/// <summary>The smallest and largest JumpReLU threshold (equal for batchtopk's single threshold).</summary>
public sealed record ThresholdRange(float Min, float Max);

/// <summary>An autoencoder's input preprocessing, in the order applied.</summary>
/// <param name="CenterInput">The input's mean over its last axis is removed first (trained with <c>center_writing_weights</c>).</param>
/// <param name="Normalize">SAELens <c>normalize_activations</c>: <c>none</c>, <c>constant_norm_rescale</c> or <c>layer_norm</c>.</param>
/// <param name="SubtractDecoderBias">The decoder bias is subtracted before encoding (<c>apply_b_dec_to_input</c>).</param>
/// <param name="CenterOutput">For transcoders: the MLP output they reconstruct is centred.</param>
public sealed record AutoencoderPreprocessingInfo(bool CenterInput, AutoencoderNormalization Normalize, bool SubtractDecoderBias, bool CenterOutput);
