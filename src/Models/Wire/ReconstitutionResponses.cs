using ReconService.Models.Tensors;

namespace ReconService.Models.Wire;

/// <summary>Activations: qk logits or probs <c>[q, k, heads]</c>, MLP activations <c>[tokens, d_ff]</c> or latents <c>[tokens, n_latents]</c>.</summary>
public sealed record ActivationsResponse(TensorPayload Activations)
{
    /// <summary>With <c>output.topK</c>: int32 positions of the kept values of <c>activations</c> on its unreduced last axis (heads, neurons or latents); absent otherwise.</summary>
    public TensorPayload? ActivationsIndices => Activations.Indices;
}

/// <summary>Gradient shaped like the residual.</summary>
public sealed record GradientResponse(TensorPayload Gradient)
{
    /// <summary>With <c>output.topK</c>: int32 positions of the kept values of <c>gradient</c> on its unreduced last axis (d_model or input width); absent otherwise.</summary>
    public TensorPayload? GradientIndices => Gradient.Indices;
}

/// <summary>Jacobian-vector product shaped like the activations.</summary>
public sealed record JvpResponse(TensorPayload Jvp)
{
    /// <summary>With <c>output.topK</c>: int32 positions of the kept values of <c>jvp</c> on its unreduced last axis (heads, neurons or latents); absent otherwise.</summary>
    public TensorPayload? JvpIndices => Jvp.Indices;
}

/// <summary>A block's output <c>[tokens, d_model]</c>.</summary>
public sealed record ResidDeltaResponse(TensorPayload ResidDelta)
{
    /// <summary>With <c>output.topK</c>: int32 positions of the kept values of <c>residDelta</c> on its unreduced last axis (d_model); absent otherwise.</summary>
    public TensorPayload? ResidDeltaIndices => ResidDelta.Indices;
}

/// <summary>Attention probabilities <c>[q, k, heads]</c> and values <c>[tokens, heads, d_head]</c>.</summary>
public sealed record AttentionValuesResponse(TensorPayload Attention, TensorPayload Values)
{
    /// <summary>With <c>output.topK</c>: int32 positions of the kept values of <c>attention</c> on its unreduced last axis (heads); absent otherwise.</summary>
    public TensorPayload? AttentionIndices => Attention.Indices;

    /// <summary>With <c>output.topK</c>: int32 positions of the kept values of <c>values</c> on its unreduced last axis (d_head); absent otherwise.</summary>
    public TensorPayload? ValuesIndices => Values.Indices;
}

/// <summary>Logits <c>[tokens, n_vocab]</c>.</summary>
public sealed record LogitsResponse(TensorPayload Logits)
{
    /// <summary>With <c>output.topK</c>: int32 positions of the kept values of <c>logits</c> on its unreduced last axis (vocabulary); absent otherwise.</summary>
    public TensorPayload? LogitsIndices => Logits.Indices;
}

/// <summary>Log-probabilities <c>[tokens, n_vocab]</c>.</summary>
public sealed record LogprobsResponse(TensorPayload Logprobs)
{
    /// <summary>With <c>output.topK</c>: int32 positions of the kept values of <c>logprobs</c> on its unreduced last axis (vocabulary); absent otherwise.</summary>
    public TensorPayload? LogprobsIndices => Logprobs.Indices;
}

/// <summary>Latents <c>[tokens, n_latents]</c>.</summary>
public sealed record EncodeResponse(TensorPayload Latents)
{
    /// <summary>With <c>output.topK</c>: int32 positions of the kept values of <c>latents</c> on its unreduced last axis (latents); absent otherwise.</summary>
    public TensorPayload? LatentsIndices => Latents.Indices;
}
