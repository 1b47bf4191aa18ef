using ReconService.Engine.Autoencoders;
using ReconService.Engine.Model;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>What a spliced autoencoder saw and produced at one layer during the forward pass.</summary>
/// <param name="Input">Its input x <c>[B, T, n_in]</c>, detached.</param>
/// <param name="Replaced">The activation the splice replaces <c>[B, T, n_out]</c>, detached: <paramref name="Input"/> for an
/// autoencoder, the MLP's output for a transcoder.</param>
/// <param name="Latents">Latents after ablation (what TDB records) <c>[B, T, n_latents]</c>, detached.</param>
/// <param name="Unablated">Latents before ablation (what the error uses), detached.</param>
/// <param name="Scale">Per token, the factor the decoder's output is multiplied by (input normalisation undone)
/// <c>[B, T, 1]</c>, or null when there is none: latent j writes <c>Scale[t] W_dec[:, j]</c>.</param>
/// <param name="Output">The spliced output <c>[B, T, n_out]</c>, in the graph: the loss's gradient with respect to it is
/// the gradient of the reconstruction path.</param>
internal sealed record SpliceRecord(Tensor Input, Tensor Replaced, Tensor Latents, Tensor Unablated, Tensor? Scale, Tensor Output);

/// <summary>
/// TDB's <c>AutoencoderHooks(add_error=True)</c> at one location, for every family: the replaced activation y becomes
/// <c>Decode(z_ablated, x) + error</c> with <c>error = y - Decode(z, x)</c> (x the encoded input: y itself for an
/// autoencoder, the MLP's input for a transcoder), which equals y unless latents are ablated. Computed as
/// <c>y + s (z_ablated - z)[J] W_dec[:, J]^T</c> over the ablated latents J only (s the per-token scale of a normalising
/// autoencoder, else 1), with <c>z</c> attached so that the gradient with respect to <c>x</c> is TDB's
/// (<c>-s W_dec[:, j] dz_j/dx</c> at ablated entries); without latent ablations the encoder runs without autograd and
/// the output is y itself. The error node is <see cref="Autoencoder.ReconstructionTarget"/>(y) - Decode(z, x) (centred
/// when the autoencoder centres: the mean of a residual-stream vector is invisible to every layer norm, so the centred and
/// the plain error have the same effect). Decoding uses only the latents active somewhere in the batch.
/// </summary>
internal static class AutoencoderSplice
{
    /// <summary>Runs the splice, recording into <paramref name="record"/>.</summary>
    /// <param name="autoencoder">The autoencoder at this layer.</param>
    /// <param name="x">Its input <c>[B, T, n_in]</c>.</param>
    /// <param name="y">The activation replaced <c>[B, T, n_out]</c> (<paramref name="x"/> unless a transcoder).</param>
    /// <param name="latentAblations">Ablations of its latents.</param>
    /// <param name="errorAblations">Ablations of its error (set to zero), verification only.</param>
    /// <param name="perTokenError">Whether error nodes are whole vectors per token (<c>[t, 0]</c>).</param>
    /// <param name="record">Receives what was seen.</param>
    public static Tensor Run(Autoencoder autoencoder, Tensor x, Tensor y, IReadOnlyList<ResolvedAblation> latentAblations,
        IReadOnlyList<ResolvedAblation> errorAblations, bool perTokenError, out SpliceRecord record)
    {
        Tensor? attached = null;
        Tensor z;
        if (latentAblations.Count > 0 && x.requires_grad)
        {
            attached = autoencoder.Encode(x).Value;
            z = attached.detach();
        }
        else
        {
            using var _ = no_grad();
            z = autoencoder.Encode(x.detach()).Value;
        }
        Tensor? scale;
        using (no_grad()) scale = Scale(autoencoder, x.detach());
        var latents = z;
        var output = y;
        if (latentAblations.Count > 0)
        {
            latents = z.clone();
            var ablated = zeros_like(z);
            foreach (var a in latentAblations)
            {
                latents[Index(a.Indices)] = tensor(a.Value, latents.dtype, latents.device);
                ablated[Index(a.Indices)] = tensor(1f, device: z.device);
            }
            var touched = latentAblations.Any(a => a.Indices[^1] is null)
                ? arange(autoencoder.NLatents, ScalarType.Int64, z.device)
                : tensor(latentAblations.Select(a => a.Indices[^1]!.Value).Distinct().ToArray(), device: z.device);
            // Only ablated entries change, and only they carry TDB's -W_dec dz/dx term; other entries of those latents are 0.
            var change = (latents.index_select(-1, touched) - (attached ?? z).index_select(-1, touched)) * ablated.index_select(-1, touched);
            var written = nn.functional.linear(change, autoencoder.DecoderWeight.index_select(1, touched));
            output = y + (scale is null ? written : written * ScaleOf(autoencoder, x));
        }
        if (errorAblations.Count > 0)
        {
            var error = Error(autoencoder, x.detach(), y.detach(), z, scale);
            var kept = ones_like(error);
            foreach (var a in errorAblations) kept[Index(perTokenError ? [a.Indices[0], null] : a.Indices)] = tensor(0f, device: kept.device);
            output = output - error * (1 - kept);
        }
        record = new SpliceRecord(x.detach(), ReferenceEquals(x, y) ? x.detach() : y.detach(), latents, z, scale, output);
        return output;
    }

    /// <summary>The error node's vector <c>ReconstructionTarget(y) - Decode(z, x)</c> <c>[B, T, n_out]</c>, detached inputs.</summary>
    public static Tensor Error(Autoencoder autoencoder, Tensor x, Tensor y, Tensor z, Tensor? scale)
    {
        var target = autoencoder.ReconstructionTarget(y).Value;
        return target - Decode(autoencoder, z, x, scale);
    }

    /// <summary>
    /// Per token, what the decoder's output is multiplied by to undo the input's normalisation (<see cref="Autoencoder.Decode"/>):
    /// <c>||c|| / sqrt(n_in)</c> for <c>constant_norm_rescale</c>, <c>std(c)</c> for <c>layer_norm</c> (c the input, centred
    /// when the autoencoder centres), <c>[..., 1]</c>; null when nothing is undone (none, or a transcoder).
    /// </summary>
    public static Tensor? Scale(Autoencoder autoencoder, Tensor x) =>
        autoencoder.IsTranscoder || autoencoder.Preprocessing.Normalization == AutoencoderNormalization.None ? null : ScaleOf(autoencoder, x);

    private static Tensor ScaleOf(Autoencoder autoencoder, Tensor x)
    {
        var c = autoencoder.Preprocessing.CentreInput ? x - x.mean([-1], keepdim: true) : x;
        if (autoencoder.Preprocessing.Normalization == AutoencoderNormalization.ConstantNormRescale)
            return c.norm(-1, keepdim: true) / Math.Sqrt(autoencoder.NInputs);
        var centred = c - c.mean([-1], keepdim: true);
        return (centred * centred).sum(-1, keepdim: true).div(c.shape[^1] - 1).sqrt();
    }

    /// <summary>Per token, what <see cref="Autoencoder.Decode"/> adds after scaling (<c>layer_norm</c>: the input's mean), or null.</summary>
    private static Tensor? Shift(Autoencoder autoencoder, Tensor x)
    {
        if (autoencoder.IsTranscoder || autoencoder.Preprocessing.Normalization != AutoencoderNormalization.LayerNorm) return null;
        var c = autoencoder.Preprocessing.CentreInput ? x - x.mean([-1], keepdim: true) : x;
        return c.mean([-1], keepdim: true);
    }

    /// <summary>Latents active anywhere in <paramref name="z"/> <c>[..., n_latents]</c>, as int64 indices.</summary>
    public static Tensor Active(Tensor z) => z.ne(0).reshape(-1, z.shape[^1]).any(0).nonzero().squeeze(1);

    /// <summary>
    /// <see cref="Autoencoder.Decode"/>: <c>(z W_dec^T + decoder_bias) s + m</c> <c>[..., n_out]</c> with the input's
    /// normalisation undone (<paramref name="scale"/> s from <see cref="Scale"/>); over the active latents only when they are few.
    /// </summary>
    public static Tensor Decode(Autoencoder autoencoder, Tensor z, Tensor x, Tensor? scale)
    {
        var active = Active(z);
        var raw = Sparse(active, autoencoder.NLatents)
            ? nn.functional.linear(z.index_select(-1, active), autoencoder.DecoderWeight.index_select(1, active), autoencoder.DecoderBias)
            : nn.functional.linear(z, autoencoder.DecoderWeight, autoencoder.DecoderBias);
        if (scale is not null) raw = raw * scale;
        return Shift(autoencoder, x) is { } shift ? raw + shift : raw;
    }

    /// <summary>
    /// Whether gathering the active latents' decoder columns beats a dense product: gathering columns of a row-major
    /// <c>[n_in, n_latents]</c> matrix costs about as much per element as a product does per row, so only when few are active.
    /// </summary>
    public static bool Sparse(Tensor active, long nLatents) => active.shape[0] * 8 <= nLatents;

    /// <summary>A batch-wide index: every sequence, then the given entries (null is "All").</summary>
    public static TensorIndex[] Index(IReadOnlyList<long?> indices) =>
        [TensorIndex.Colon, .. indices.Select(i => i is long v ? TensorIndex.Single(v) : TensorIndex.Colon)];
}
