using System.ComponentModel;
using ReconService.Models.Tensors;

namespace ReconService.Models.Wire;

/// <summary><c>POST /v1/forward</c>: a forward pass from text or tokens, capturing activations.</summary>
public sealed record ForwardRequest : TensorRequest
{
    /// <summary>Text to tokenize with the GPT-2 tokenizer; give this or <see cref="Tokens"/>.</summary>
    public string? Prompt { get; init; }
    /// <summary>Token ids; give this or <see cref="Prompt"/>.</summary>
    public int[]? Tokens { get; init; }
    /// <summary>Locations to capture, e.g. <c>resid.post_attn</c>, <c>mlp.post_act</c>, <c>attn.qk_probs</c>; none when omitted or null.</summary>
    public string[]? Capture { get; init; }
    /// <summary>Layers to capture at; all when omitted.</summary>
    public int[]? Layers { get; init; }
    /// <summary>Next-token predictions to return per position (default 5, at most 50).</summary>
    [DefaultValue(5)]
    public int TopK { get; init; } = 5;
}

/// <summary>One predicted next token.</summary>
/// <param name="Token">Token id.</param>
/// <param name="TokenString">Its text.</param>
/// <param name="Logprob">Natural-log probability.</param>
public sealed record TokenPrediction(int Token, string TokenString, float Logprob);

/// <summary>One captured activation.</summary>
/// <param name="Location">Location name, e.g. <c>resid.post_attn</c>.</param>
/// <param name="Layer">Layer, or null for locations outside the layers (<c>resid.post_emb</c>, <c>logits</c>).</param>
/// <param name="Tensor">The activation. A safetensors answer stores it as <c>captured/&lt;location&gt;/&lt;layer or none&gt;</c> (and its top-k positions as that name followed by <c>Indices</c>).</param>
public sealed record CapturedTensor(string Location, int? Layer, TensorPayload Tensor)
{
    /// <summary>With <c>output.topK</c>: int32 positions of the kept values on the unreduced last axis; absent otherwise.</summary>
    public TensorPayload? TensorIndices => Tensor.Indices;
}

/// <summary>Result of a forward pass.</summary>
/// <param name="Tokens">Token ids.</param>
/// <param name="TokenStrings">Text of each token.</param>
/// <param name="TopPredictions">Per position, the most likely next tokens, best first.</param>
/// <param name="Captured">Captured activations, by location then layer.</param>
public sealed record ForwardResponse(int[] Tokens, string[] TokenStrings, TokenPrediction[][] TopPredictions, CapturedTensor[] Captured);

/// <summary><c>POST /v1/tokenize</c>.</summary>
public sealed record TokenizeRequest
{
    /// <summary>Text to tokenize.</summary>
    public required string Text { get; init; }
}

/// <summary>Tokens of a text.</summary>
/// <param name="Tokens">Token ids.</param>
/// <param name="TokenStrings">Text of each token.</param>
public sealed record TokenizeResponse(int[] Tokens, string[] TokenStrings);
