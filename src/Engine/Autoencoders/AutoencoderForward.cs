using ReconService.Engine.Model;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Autoencoders;

public sealed partial class Autoencoder
{
    /// <summary>
    /// Latent pre-activations <c>(x - pre_bias) W_enc^T + latent_bias</c>, <c>[..., n_latents]</c> (or the slice's width),
    /// as TDB's <c>Autoencoder.encode_pre_act</c>; only the sliced encoder rows are computed.
    /// </summary>
    /// <param name="x">Activations of the input type, <c>[..., n_inputs]</c>.</param>
    /// <param name="slice">Latents to compute; all when null. Must lie within <c>[0, n_latents]</c>.</param>
    public Dual EncodePreAct(Dual x, LatentSlice? slice = null)
    {
        Tensor weight = EncoderWeight, bias = LatentBias;
        if (slice is not null)
        {
            weight = weight.narrow(0, slice.Start, slice.Stop - slice.Start);
            bias = bias.narrow(0, slice.Start, slice.Stop - slice.Start);
        }
        return (x - (Dual)PreBias).Linear(weight, bias);
    }

    /// <summary>The latent nonlinearity (ReLU, Identity or TopK along the last axis), shaped like its input.</summary>
    public Dual Activate(Dual preAct)
    {
        switch (Activation)
        {
            case AutoencoderActivation.ReLU: return preAct.Relu();
            case AutoencoderActivation.Identity: return preAct;
        }
        var (values, indices) = preAct.Value.topk(K!.Value, dim: -1);
        var kept = new Dual(values, preAct.Tangent?.gather(-1, indices));
        if (PostActivation == AutoencoderActivation.ReLU) kept = kept.Relu();
        using var zeros = zeros_like(preAct.Value);
        return new Dual(zeros.scatter(-1, indices, kept.Value), kept.Tangent is null ? null : zeros.scatter(-1, indices, kept.Tangent));
    }

    /// <summary>Latents <c>[..., n_latents]</c> of activations <c>[..., n_inputs]</c>: TDB's <c>Autoencoder.encode</c>.</summary>
    public Dual Encode(Dual x) => Activate(EncodePreAct(x));
}
