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
    /// <exception cref="ProblemException">422: longer than <c>Limits:MaxPromptChars</c>.</exception>
    public async ValueTask<int[]> EncodeAsync(string text, string field, CancellationToken cancellationToken)
    {
        var max = limits.Value.MaxPromptChars;
        if (text.Length > max)
            throw new ProblemException(StatusCodes.Status422UnprocessableEntity, field, $"expected at most {max} characters, got {text.Length}");
        await _running.WaitAsync(cancellationToken);
        try
        {
            return tokenizer.Encode(text);
        }
        finally
        {
            _running.Release();
        }
    }

    /// <summary>Text of each token.</summary>
    public string[] TokenStrings(IEnumerable<int> tokens) => tokenizer.TokenStrings(tokens);

    /// <inheritdoc />
    public void Dispose() => _running.Dispose();
}
