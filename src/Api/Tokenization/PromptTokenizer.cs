using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Errors;

namespace ReconService.Api.Tokenization;

/// <summary>
/// Tokenization on the request path, off the engine queue: a prompt is tokenized before its request takes an engine
/// slot, at most <see cref="Environment.ProcessorCount"/> at a time (others wait their turn here, not in the engine
/// queue), and no longer than <c>Limits:MaxPromptChars</c>.
/// </summary>
public sealed class PromptTokenizer(GptTokenizer tokenizer, IOptions<LimitsOptions> limits) : IDisposable
{
    private readonly SemaphoreSlim _running = new(Environment.ProcessorCount);

    /// <summary>The tokens of <paramref name="text"/> from request field <paramref name="field"/>.</summary>
    /// <param name="text">Any text.</param>
    /// <param name="field">Request field the text came from, for errors.</param>
    /// <param name="allowSpecial"><c>&lt;|endoftext|&gt;</c> in the text is token 50256 (otherwise ordinary text).</param>
    /// <param name="prependBos">Put token 50256 first.</param>
    /// <param name="cancellationToken">The request's.</param>
    /// <exception cref="ProblemException">422: longer than <c>Limits:MaxPromptChars</c>.</exception>
    public async ValueTask<int[]> EncodeAsync(string text, string field, bool allowSpecial, bool prependBos, CancellationToken cancellationToken)
    {
        var max = limits.Value.MaxPromptChars;
        if (text.Length > max)
            throw new ProblemException(StatusCodes.Status422UnprocessableEntity, field, $"expected at most {max} characters, got {text.Length}");
        await _running.WaitAsync(cancellationToken);
        try
        {
            return tokenizer.Encode(text, allowSpecial, prependBos);
        }
        finally
        {
            _running.Release();
        }
    }

    /// <summary>Text of each token of a sequence; they join to the sequence's text (<see cref="GptTokenizer.TokenStrings"/>).</summary>
    public string[] TokenStrings(IReadOnlyList<int> tokens) => tokenizer.TokenStrings(tokens);

    /// <summary>Text of one token on its own (a predicted next token).</summary>
    public string TokenString(int token) => tokenizer.TokenString(token);

    /// <summary>Each token's bytes, base64.</summary>
    public string[] TokenBytesBase64(IReadOnlyList<int> tokens) => tokenizer.TokenBytesBase64(tokens);

    /// <inheritdoc />
    public void Dispose() => _running.Dispose();
}
