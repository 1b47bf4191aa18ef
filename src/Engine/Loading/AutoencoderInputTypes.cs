using ReconService.Models;

namespace ReconService.Engine.Loading;

/// <summary>Spellings of <see cref="AutoencoderInputType"/>: TDB's activation locations and OpenAI's release names.</summary>
public static class AutoencoderInputTypes
{
    private static readonly (AutoencoderInputType Type, string Location, string Release)[] Names =
    [
        (AutoencoderInputType.MlpPostAct, "mlp.post_act", "mlp_post_act"),
        (AutoencoderInputType.ResidDeltaMlp, "resid.delta_mlp", "resid_delta_mlp"),
        (AutoencoderInputType.ResidDeltaAttn, "resid.delta_attn", "resid_delta_attn"),
    ];

    /// <summary>
    /// Parses an input type: <c>mlp.post_act</c>, <c>resid.delta_mlp</c>, <c>resid.delta_attn</c>, or the release spellings
    /// <c>mlp_post_act</c>, <c>resid_delta_mlp</c>, <c>resid_delta_attn</c> (exact, case-sensitive).
    /// </summary>
    /// <param name="text">The spelling to parse.</param>
    /// <returns>The input type it names.</returns>
    /// <exception cref="ArgumentException">Any other text.</exception>
    public static AutoencoderInputType Parse(string text)
    {
        foreach (var (type, location, release) in Names)
            if (text == location || text == release) return type;
        throw new ArgumentException(
            $"Unknown autoencoder input type '{text}': expected mlp.post_act, resid.delta_mlp or resid.delta_attn", nameof(text));
    }

    /// <summary>TDB's activation-location spelling, e.g. <c>mlp.post_act</c>.</summary>
    internal static string Location(AutoencoderInputType type) => Names.First(n => n.Type == type).Location;

    /// <summary>
    /// The input type named by a release name in <paramref name="path"/> (OpenAI publishes autoencoders under
    /// e.g. <c>mlp_post_act_v5_32k/autoencoders/</c>), looking from the innermost folder outward; null when none does.
    /// </summary>
    /// <exception cref="WeightLoadException">The innermost folder naming a release names more than one.</exception>
    internal static AutoencoderInputType? FromPath(string path)
    {
        var segments = Path.GetFullPath(path).Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        foreach (var segment in segments.Reverse())
        {
            var found = Names.Where(n => segment.Contains(n.Release, StringComparison.Ordinal)).ToList();
            if (found.Count > 1)
                throw new WeightLoadException(path, $"folder '{segment}' names more than one autoencoder input type");
            if (found.Count == 1) return found[0].Type;
        }
        return null;
    }
}
