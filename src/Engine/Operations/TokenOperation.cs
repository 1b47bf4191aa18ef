namespace ReconService.Engine.Operations;

/// <summary>
/// An operation that reads token ids instead of tensors (attribution): the limits step counts its tokens against the
/// per-request limit and names <see cref="TokensField"/> when the request is too large.
/// </summary>
public interface ITokenOperation
{
    /// <summary>The request field the tokens came from (<c>tokens</c>, <c>prompt</c>, <c>prompts</c>).</summary>
    string TokensField { get; }

    /// <summary>Tokens of every sequence together.</summary>
    long TokenCount { get; }
}
