namespace ReconService.Models.Wire;

/// <summary><c>GET /v1/model</c>: what the service serves.</summary>
/// <param name="Config">Model sizes.</param>
/// <param name="Device">Where the weights live (<c>cpu</c> or <c>cuda</c>).</param>
/// <param name="Dtype">Element type of the weights and of every output (<c>float32</c>).</param>
/// <param name="Autoencoders">Loaded autoencoder families.</param>
public sealed record ModelInfoResponse(ModelConfigInfo Config, string Device, string Dtype, AutoencoderInfoResponse[] Autoencoders);

/// <summary>Model sizes in TransformerLens's vocabulary.</summary>
public sealed record ModelConfigInfo(int DModel, int NLayers, int NHeads, int DHead, int DFf, int NCtx, int NVocab);

/// <summary>One loaded autoencoder family.</summary>
/// <param name="Name">Name requests use.</param>
/// <param name="InputType">Activation it encodes.</param>
/// <param name="NodeType">Node type of its latents.</param>
/// <param name="Layers">Layers that have one.</param>
/// <param name="NLatents">Latents per layer.</param>
/// <param name="NInputs">Width of its input.</param>
/// <param name="Activation">Nonlinearity.</param>
/// <param name="K">Latents kept per row, for TopK.</param>
public sealed record AutoencoderInfoResponse(string Name, AutoencoderInputType InputType, NodeType NodeType, int[] Layers,
    int NLatents, int NInputs, AutoencoderActivation Activation, int? K);
