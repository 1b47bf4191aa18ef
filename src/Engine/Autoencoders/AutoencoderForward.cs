using ReconService.Engine.Model;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Autoencoders;

public sealed partial class Autoencoder
{
    private const double LayerNormEpsilon = 1e-5;

    /// <summary>
    /// Latent pre-activations <c>(preprocess(x) - pre_bias) W_enc^T + latent_bias</c>, <c>[..., n_latents]</c> (or the slice's
    /// width), as TDB's <c>Autoencoder.encode_pre_act</c> and SAELens's <c>hidden_pre</c>; only the sliced encoder rows are computed.
    /// </summary>
    /// <param name="x">Activations of the input type, <c>[..., n_inputs]</c>, as the model computes them (uncentred).</param>
    /// <param name="slice">Latents to compute; all when null. Must lie within <c>[0, n_latents]</c>.</param>
    public Dual EncodePreAct(Dual x, LatentSlice? slice = null)
    {
        Tensor weight = EncoderWeight, bias = LatentBias;
        if (slice is not null)
        {
            weight = weight.narrow(0, slice.Start, slice.Stop - slice.Start);
            bias = bias.narrow(0, slice.Start, slice.Stop - slice.Start);
        }
        var input = Preprocess(x);
        return (IsTranscoder ? input : input - (Dual)PreBias).Linear(weight, bias);
    }

    /// <summary>
    /// The latent nonlinearity over all latents of a row (ReLU, Identity, TopK along the last axis, or JumpReLU
    /// <c>relu(x) * (x &gt; threshold)</c>), shaped like its input <c>[..., n_latents]</c>.
    /// </summary>
    public Dual Activate(Dual preAct)
    {
        switch (Activation)
        {
            case AutoencoderActivation.ReLU: return preAct.Relu();
            case AutoencoderActivation.Identity: return preAct;
            case AutoencoderActivation.JumpReLU:
                var keep = preAct.Value.gt(Threshold!).logical_and_(preAct.Value.gt(0));
                return new Dual(preAct.Value * keep, preAct.Tangent is null ? null : preAct.Tangent * keep);
        }
        var (values, indices) = preAct.Value.topk(K!.Value, dim: -1);
        var kept = new Dual(values, preAct.Tangent?.gather(-1, indices));
        if (PostActivation == AutoencoderActivation.ReLU) kept = kept.Relu();
        using var zeros = zeros_like(preAct.Value);
        return new Dual(zeros.scatter(-1, indices, kept.Value), kept.Tangent is null ? null : zeros.scatter(-1, indices, kept.Tangent));
    }

    /// <summary>Latents <c>[..., n_latents]</c> of activations <c>[..., n_inputs]</c>: TDB's <c>Autoencoder.encode</c>.</summary>
    public Dual Encode(Dual x) => Activate(EncodePreAct(x));

    /// <summary>
    /// The reconstruction <c>latents W_dec^T + decoder_bias</c>, <c>[..., n_outputs]</c>, with the input's normalisation undone
    /// (SAELens's <c>decode</c>; a transcoder's output is not un-normalised, as in SAELens). It lives where
    /// <see cref="ReconstructionTarget"/> puts the activation it approximates (centred when the autoencoder centres).
    /// </summary>
    /// <param name="latents"><c>[..., n_latents]</c>.</param>
    /// <param name="input">The activations that were encoded, <c>[..., n_inputs]</c>: their statistics undo the normalisation.
    /// Unused when there is none.</param>
    public Dual Decode(Dual latents, Dual input)
    {
        var output = latents.Linear(DecoderWeight, DecoderBias);
        if (IsTranscoder || Preprocessing.Normalization == AutoencoderNormalization.None) return output;
        var centred = Preprocessing.CentreInput ? Centre(input) : input;
        if (Preprocessing.Normalization == AutoencoderNormalization.ConstantNormRescale) return output / NormScale(centred);
        var (mean, std) = MeanAndStd(centred);
        return output * std + mean;
    }

    /// <summary><see cref="Decode"/> of <see cref="Encode"/>: the reconstruction of <paramref name="input"/>, <c>[..., n_outputs]</c>.</summary>
    public Dual Reconstruct(Dual input) => Decode(Encode(input), input);

    /// <summary>
    /// The activation the reconstruction approximates, from the model's own activation <c>[..., n_outputs]</c> (the input for an
    /// autoencoder, the MLP output for a transcoder): centred when the autoencoder centres, unchanged otherwise. The
    /// autoencoder's error is <c>ReconstructionTarget(activation) - Reconstruct(input)</c>.
    /// </summary>
    public Dual ReconstructionTarget(Dual activation) =>
        (IsTranscoder ? Preprocessing.CentreOutput : Preprocessing.CentreInput) ? Centre(activation) : activation;

    /// <summary>Centring then normalisation, as SAELens's <c>process_sae_in</c> (before the decoder-bias subtraction).</summary>
    private Dual Preprocess(Dual x)
    {
        if (Preprocessing.CentreInput) x = Centre(x);
        switch (Preprocessing.Normalization)
        {
            case AutoencoderNormalization.ConstantNormRescale:
                return x * NormScale(x);
            case AutoencoderNormalization.LayerNorm:
                var (mean, std) = MeanAndStd(x);
                return (x - mean) / new Dual(std.Value + LayerNormEpsilon, std.Tangent);
            default:
                return x;
        }
    }

    private static Dual Centre(Dual x) => x - x.Mean(-1);

    /// <summary><c>sqrt(n_inputs) / ||x||</c> over the last axis, keeping it.</summary>
    private Dual NormScale(Dual x)
    {
        var norm = (x * x).Sum(-1).SqrtPlus(0);
        return (Dual)ones_like(norm.Value) / norm * Math.Sqrt(NInputs);
    }

    /// <summary>Mean and <c>torch.std</c> (Bessel-corrected) over the last axis, keeping it.</summary>
    private static (Dual Mean, Dual Std) MeanAndStd(Dual x)
    {
        var mean = x.Mean(-1);
        var c = x - mean;
        var n = x.Value.shape[^1];
        return (mean, ((c * c).Sum(-1) * (1.0 / (n - 1))).SqrtPlus(0));
    }
}
