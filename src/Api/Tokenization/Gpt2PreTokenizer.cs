using System.Globalization;
using System.Text;

namespace ReconService.Api.Tokenization;

/// <summary>
/// GPT-2's pre-tokenizer: splits text into the pieces that byte-pair encoding then works on, as GPT-2's pattern
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c> does, in one left-to-right pass.
/// </summary>
/// <remarks>
/// Written out by hand rather than run as a <see cref="System.Text.RegularExpressions.Regex"/> so that it works on
/// Unicode scalar values, as tiktoken's Rust regex does: .NET's regex sees a character outside the Basic Multilingual
/// Plane as two surrogates, so a letter such as U+1D400 or a CJK Extension B ideograph would not count as <c>\p{L}</c>.
/// On text without such characters the pieces are exactly the regex's. <c>\s</c> is Unicode's White_Space set (the same
/// set as .NET's <c>\s</c>); an unpaired surrogate counts as neither letter, number nor space.
/// </remarks>
internal static class Gpt2PreTokenizer
{
    private enum Kind { Letter, Number, Space, Other }

    /// <summary>Appends the pieces of <paramref name="text"/> to <paramref name="pieces"/> as (start, length) in UTF-16 units.</summary>
    public static void Split(ReadOnlySpan<char> text, List<(int Start, int Length)> pieces)
    {
        var n = text.Length;
        var i = 0;
        while (i < n)
        {
            var start = i;
            if (text[i] == '\'' && ContractionLength(text, i) is var contraction and > 0)
            {
                i += contraction;
            }
            else if (text[i] == ' ' && i + 1 < n && KindAt(text, i + 1, out _) is var next and not Kind.Space)
            {
                i = RunEnd(text, i + 1, next);
            }
            else if (KindAt(text, i, out _) is var kind and not Kind.Space)
            {
                i = RunEnd(text, i, kind);
            }
            else
            {
                // \s+(?!\S) takes a whitespace run but leaves its last character to the piece after it (" word"),
                // unless the run ends the text; a single whitespace character before a non-space is \s+ on its own.
                var end = RunEnd(text, i, Kind.Space);
                i = end < n && end - start > 1 ? end - 1 : end;
            }
            pieces.Add((start, i - start));
        }
    }

    private static int ContractionLength(ReadOnlySpan<char> text, int i)
    {
        var rest = text[(i + 1)..];
        if (rest.Length >= 1 && rest[0] is 's' or 't' or 'm' or 'd') return 2;
        if (rest.Length >= 2 && (rest[..2] is "re" or "ve" or "ll")) return 3;
        return 0;
    }

    private static int RunEnd(ReadOnlySpan<char> text, int i, Kind kind)
    {
        while (i < text.Length && KindAt(text, i, out var width) == kind) i += width;
        return i;
    }

    private static Kind KindAt(ReadOnlySpan<char> text, int i, out int width)
    {
        var c = text[i];
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            width = 2;
            return Classify(Rune.GetUnicodeCategory(new Rune(c, text[i + 1])));
        }
        width = 1;
        if (IsSpace(c)) return Kind.Space;
        return char.IsSurrogate(c) ? Kind.Other : Classify(char.GetUnicodeCategory(c));
    }

    private static Kind Classify(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Kind.Number,
        _ => Kind.Other,
    };

    /// <summary>Unicode White_Space: every such character is in the Basic Multilingual Plane.</summary>
    private static bool IsSpace(char c) => c switch
    {
        >= '\t' and <= '\r' or ' ' or '\u0085' or '\u00A0' or '\u1680' => true,
        >= '\u2000' and <= '\u200A' or '\u2028' or '\u2029' or '\u202F' or '\u205F' or '\u3000' => true,
        _ => false,
    };
}
