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
    /// <summary>
    /// With <see cref="Prompt"/>: encode each <c>&lt;|endoftext|&gt;</c> in the text as token 50256. Default false: it is ordinary
    /// text (seven tokens). Must stay false with <see cref="Tokens"/>.
    /// </summary>
    public bool AllowSpecial { get; init; }
    /// <summary>Put token 50256 (<c>&lt;|endoftext|&gt;</c>, GPT-2's BOS) before the prompt's tokens or the given tokens. Default false.</summary>
    public bool PrependBos { get; init; }
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
/// <param name="Tokens">Token ids the model ran on (with the BOS token first when <paramref name="PrependBos"/>).</param>
/// <param name="TokenStrings">
/// Text of each token; they concatenate to the decoded text. A character whose UTF-8 bytes span several tokens belongs to
/// the token holding its last byte (the others get <c>""</c> for it); invalid UTF-8 decodes to U+FFFD.
/// </param>
/// <param name="TokenBytes">Each token's bytes, base64 (RFC 4648, with padding).</param>
/// <param name="TopPredictions">Per position, the most likely next tokens, best first.</param>
/// <param name="Captured">Captured activations, by location then layer.</param>
/// <param name="AllowSpecial">The request's <c>allowSpecial</c>.</param>
/// <param name="PrependBos">The request's <c>prependBos</c>.</param>
public sealed record ForwardResponse(int[] Tokens, string[] TokenStrings, string[] TokenBytes, TokenPrediction[][] TopPredictions,
    CapturedTensor[] Captured, bool AllowSpecial, bool PrependBos);

/// <summary><c>POST /v1/tokenize</c>.</summary>
public sealed record TokenizeRequest
{
    /// <summary>Text to tokenize.</summary>
    public required string Text { get; init; }
    /// <summary>Encode each <c>&lt;|endoftext|&gt;</c> in the text as token 50256. Default false: it is ordinary text (seven tokens).</summary>
    public bool AllowSpecial { get; init; }
    /// <summary>Put token 50256 (<c>&lt;|endoftext|&gt;</c>, GPT-2's BOS) first. Default false.</summary>
    public bool PrependBos { get; init; }
}

/// <summary>Tokens of a text.</summary>
/// <param name="Tokens">Token ids.</param>
/// <param name="TokenStrings">
/// Text of each token; they concatenate to the text. A character whose UTF-8 bytes span several tokens belongs to the token
/// holding its last byte (the others get <c>""</c> for it).
/// </param>
/// <param name="TokenBytes">Each token's bytes, base64 (RFC 4648, with padding).</param>
/// <param name="AllowSpecial">The request's <c>allowSpecial</c>.</param>
/// <param name="PrependBos">The request's <c>prependBos</c>.</param>
public sealed record TokenizeResponse(int[] Tokens, string[] TokenStrings, string[] TokenBytes, bool AllowSpecial, bool PrependBos);
