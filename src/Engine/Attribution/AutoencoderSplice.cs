using ReconService.Engine.Autoencoders;
using ReconService.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>What a spliced autoencoder saw and produced at one layer during the forward pass.</summary>
/// <param name="Input">Its input x <c>[B, T, n_in]</c>, detached.</param>
/// <param name="Latents">Latents after ablation (what TDB records) <c>[B, T, n_latents]</c>, detached.</param>
/// <param name="Unablated">Latents before ablation (what the error uses), detached.</param>
/// <param name="Output">The spliced output <c>[B, T, n_in]</c>, in the graph: the loss's gradient with respect to it is
/// the gradient of the reconstruction path.</param>
internal sealed record SpliceRecord(Tensor Input, Tensor Latents, Tensor Unablated, Tensor Output);

/// <summary>
/// TDB's <c>AutoencoderHooks(add_error=True)</c> at one location: <c>output = decode(z_ablated) + (x - decode(z))</c>,
/// which equals <c>x</c> unless latents are ablated. Computed as <c>x + (z_ablated - z)[J] W_dec[:, J]^T</c> over the
/// ablated latents J only, with <c>z</c> attached so that the gradient with respect to <c>x</c> is TDB's
/// (<c>I - W_dec[:, j] dz_j/dx</c> at ablated entries); without latent ablations the encoder runs without autograd and
/// the output is <c>x</c> itself. Decoding uses only the latents active somewhere in the batch.
/// </summary>
internal static class AutoencoderSplice
{
    /// <summary>Runs the splice on <paramref name="x"/>, recording into <paramref name="record"/>.</summary>
    /// <param name="autoencoder">The autoencoder at this layer.</param>
    /// <param name="x">Its input <c>[B, T, n_in]</c>.</param>
    /// <param name="latentAblations">Ablations of its latents.</param>
    /// <param name="errorAblations">Ablations of its error (set to zero), verification only.</param>
    /// <param name="perTokenError">Whether error nodes are whole vectors per token (<c>[t, 0]</c>).</param>
    /// <param name="record">Receives what was seen.</param>
    public static Tensor Run(Autoencoder autoencoder, Tensor x, IReadOnlyList<ResolvedAblation> latentAblations,
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
        var latents = z;
        var output = x;
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
            output = x + nn.functional.linear(change, autoencoder.DecoderWeight.index_select(1, touched));
        }
        if (errorAblations.Count > 0)
        {
            var error = x.detach() - Decode(autoencoder, z);
            var kept = ones_like(error);
            foreach (var a in errorAblations) kept[Index(perTokenError ? [a.Indices[0], null] : a.Indices)] = tensor(0f, device: kept.device);
            output = output - error * (1 - kept);
        }
        record = new SpliceRecord(x.detach(), latents, z, output);
        return output;
    }

    /// <summary>Latents active anywhere in <paramref name="z"/> <c>[..., n_latents]</c>, as int64 indices.</summary>
    public static Tensor Active(Tensor z) => z.ne(0).reshape(-1, z.shape[^1]).any(0).nonzero().squeeze(1);

    /// <summary><c>decode(z) = z W_dec^T + pre_bias</c> <c>[..., n_in]</c>; over the active latents only when they are few.</summary>
    public static Tensor Decode(Autoencoder autoencoder, Tensor z)
    {
        var active = Active(z);
        return Sparse(active, autoencoder.NLatents)
            ? nn.functional.linear(z.index_select(-1, active), autoencoder.DecoderWeight.index_select(1, active), autoencoder.PreBias)
            : nn.functional.linear(z, autoencoder.DecoderWeight, autoencoder.PreBias);
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
