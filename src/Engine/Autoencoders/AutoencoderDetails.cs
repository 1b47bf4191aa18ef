using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine.Autoencoders;

/// <summary>What <c>GET /v1/model</c> states about an autoencoder family beyond its sizes: how it was stored, what it reads and writes, and what it does to its input.</summary>
/// <param name="Format">See <see cref="AutoencoderDescription.Format"/>.</param>
/// <param name="Architecture">See <see cref="AutoencoderDescription.Architecture"/>.</param>
/// <param name="Residual">The residual latent reconstitution at layer L starts from: <c>resid.pre</c>, <c>resid.post_attn</c> or <c>resid.post_mlp</c>.</param>
/// <param name="InputHook">The TransformerLens hook it reads (<c>{layer}</c> for the layer), when the files say.</param>
/// <param name="OutputType">For transcoders, the activation they reconstruct.</param>
/// <param name="OutputHook">For transcoders, the TransformerLens hook they write.</param>
/// <param name="NOutputs">Width of the reconstruction.</param>
/// <param name="ThresholdMin">For JumpReLU, the smallest threshold over every latent of every layer.</param>
/// <param name="ThresholdMax">For JumpReLU, the largest.</param>
/// <param name="Normalization">Input normalisation.</param>
/// <param name="SubtractsDecoderBias">Whether the decoder bias is subtracted from the input before encoding (<c>apply_b_dec_to_input</c>).</param>
/// <param name="CentresInput">Whether the input's mean is removed first (trained with <c>center_writing_weights</c>).</param>
/// <param name="CentresOutput">For transcoders, whether the MLP output they reconstruct is the centred one.</param>
public sealed record AutoencoderDetails(string Format, string Architecture, string Residual, string? InputHook,
    AutoencoderInputType? OutputType, string? OutputHook, int NOutputs, float? ThresholdMin, float? ThresholdMax,
    AutoencoderNormalization Normalization, bool SubtractsDecoderBias, bool CentresInput, bool CentresOutput)
{
    /// <summary>The details of <paramref name="set"/> (its layers share every one of them but the thresholds' values).</summary>
    public static AutoencoderDetails Of(AutoencoderSet set)
    {
        var first = set.Layers.Values.First();
        float? min = null, max = null;
        using (var scope = torch.NewDisposeScope())
        {
            foreach (var threshold in set.Layers.Values.Select(a => a.Threshold).OfType<torch.Tensor>())
            {
                var (lo, hi) = (threshold.min().item<float>(), threshold.max().item<float>());
                min = min is null ? lo : Math.Min(min.Value, lo);
                max = max is null ? hi : Math.Max(max.Value, hi);
            }
        }
        var d = set.Description;
        return new AutoencoderDetails(d.Format, d.Architecture, set.Residual, d.InputHook, set.OutputType, d.OutputHook, first.NOutputs,
            min, max, first.Preprocessing.Normalization, d.ApplyBDecToInput && !first.IsTranscoder, first.Preprocessing.CentreInput,
            first.Preprocessing.CentreOutput);
    }
}
