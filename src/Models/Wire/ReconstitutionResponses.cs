using ReconService.Models.Tensors;

namespace ReconService.Models.Wire;

/// <summary>Activations: qk logits or probs <c>[q, k, heads]</c>, MLP activations <c>[tokens, d_ff]</c> or latents <c>[tokens, n_latents]</c>.</summary>
public sealed record ActivationsResponse(TensorPayload Activations);

/// <summary>Gradient shaped like the residual.</summary>
public sealed record GradientResponse(TensorPayload Gradient);

/// <summary>Jacobian-vector product shaped like the activations.</summary>
public sealed record JvpResponse(TensorPayload Jvp);

/// <summary>A block's output <c>[tokens, d_model]</c>.</summary>
public sealed record ResidDeltaResponse(TensorPayload ResidDelta);

/// <summary>Attention probabilities <c>[q, k, heads]</c> and values <c>[tokens, heads, d_head]</c>.</summary>
public sealed record AttentionValuesResponse(TensorPayload Attention, TensorPayload Values);

/// <summary>Logits <c>[tokens, n_vocab]</c>.</summary>
public sealed record LogitsResponse(TensorPayload Logits);

/// <summary>Log-probabilities <c>[tokens, n_vocab]</c>.</summary>
public sealed record LogprobsResponse(TensorPayload Logprobs);

/// <summary>Latents <c>[tokens, n_latents]</c>.</summary>
public sealed record EncodeResponse(TensorPayload Latents);
