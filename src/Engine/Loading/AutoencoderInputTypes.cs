using ReconService.Models;

namespace ReconService.Engine.Loading;

/// <summary>Spellings of <see cref="AutoencoderInputType"/>: TDB's activation locations and OpenAI's release names.</summary>
public static class AutoencoderInputTypes
{
    private static readonly (AutoencoderInputType Type, string Location, string? Release)[] Names =
    [
        (AutoencoderInputType.MlpPostAct, "mlp.post_act", "mlp_post_act"),
        (AutoencoderInputType.ResidDeltaMlp, "resid.delta_mlp", "resid_delta_mlp"),
        (AutoencoderInputType.ResidDeltaAttn, "resid.delta_attn", "resid_delta_attn"),
        (AutoencoderInputType.ResidPre, "resid.pre", null),
        (AutoencoderInputType.ResidPostAttn, "resid.post_attn", null),
        (AutoencoderInputType.ResidPostMlp, "resid.post_mlp", null),
        (AutoencoderInputType.Ln2Normalized, "ln_2.normalized", null),
    ];

    /// <summary>The spellings <see cref="Parse"/> accepts, for messages.</summary>
    public static string Accepted { get; } = string.Join(", ", Names.Select(n => n.Location)) + " (or the release spellings "
        + string.Join(", ", Names.Where(n => n.Release is not null).Select(n => n.Release)) + ")";

    /// <summary>
    /// Parses an input type: <c>mlp.post_act</c>, <c>resid.delta_mlp</c>, <c>resid.delta_attn</c>, <c>resid.pre</c>,
    /// <c>resid.post_attn</c>, <c>resid.post_mlp</c>, <c>ln_2.normalized</c>, or the release spellings <c>mlp_post_act</c>,
    /// <c>resid_delta_mlp</c>, <c>resid_delta_attn</c> (exact, case-sensitive).
    /// </summary>
    /// <param name="text">The spelling to parse.</param>
    /// <returns>The input type it names.</returns>
    /// <exception cref="ArgumentException">Any other text.</exception>
    public static AutoencoderInputType Parse(string text)
    {
        foreach (var (type, location, release) in Names)
            if (text == location || text == release) return type;
        throw new ArgumentException($"Unknown autoencoder input type '{text}': expected {Accepted}", nameof(text));
    }

    /// <summary>TDB's activation-location spelling, e.g. <c>mlp.post_act</c>.</summary>
    public static string Location(AutoencoderInputType type) => Names.First(n => n.Type == type).Location;

    /// <summary>
    /// The residual stream a latent of an autoencoder reading <paramref name="type"/> at layer L is reconstituted from:
    /// <c>resid.pre</c> (the residual before layer L: <c>resid.post_emb</c> for L = 0, else <c>resid.post_mlp</c> of L - 1) for
    /// <c>resid.delta_attn</c> and <c>resid.pre</c>; <c>resid.post_mlp</c> of L for <c>resid.post_mlp</c>; otherwise
    /// <c>resid.post_attn</c> of L.
    /// </summary>
    public static string Residual(AutoencoderInputType type) => type switch
    {
        AutoencoderInputType.ResidDeltaAttn or AutoencoderInputType.ResidPre => "resid.pre",
        AutoencoderInputType.ResidPostMlp => "resid.post_mlp",
        _ => "resid.post_attn",
    };

    /// <summary>
    /// Whether a TransformerLens model loaded with <c>center_writing_weights</c> has this activation centred (zero mean over
    /// <c>d_model</c>): every residual-stream value and every block output; not <c>mlp.post_act</c> or <c>ln_2.normalized</c>.
    /// </summary>
    public static bool CentredByWritingWeights(AutoencoderInputType type) =>
        type is not (AutoencoderInputType.MlpPostAct or AutoencoderInputType.Ln2Normalized);

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
            var found = Names.Where(n => n.Release is not null && segment.Contains(n.Release, StringComparison.Ordinal)).ToList();
            if (found.Count > 1)
                throw new WeightLoadException(path, $"folder '{segment}' names more than one autoencoder input type");
            if (found.Count == 1) return found[0].Type;
        }
        return null;
    }
}
