using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine.Autoencoders;

/// <summary>
/// One sparse autoencoder, as TDB's <c>Autoencoder</c> computes it:
/// <c>latents_pre = (x - pre_bias) W_enc^T + latent_bias</c>, <c>latents = act(latents_pre)</c>,
/// <c>reconstruction = latents W_dec^T + pre_bias</c>. Weights are float32 and owned by this object.
/// </summary>
public sealed partial class Autoencoder : IDisposable
{
    /// <summary>Creates an autoencoder from its weights (float32, any device; moved with <see cref="To"/>).</summary>
    /// <param name="preBias"><c>[n_inputs]</c>, subtracted before encoding and added after decoding.</param>
    /// <param name="encoderWeight"><c>[n_latents, n_inputs]</c>.</param>
    /// <param name="latentBias"><c>[n_latents]</c>.</param>
    /// <param name="decoderWeight"><c>[n_inputs, n_latents]</c>.</param>
    /// <param name="activation">Nonlinearity on the latent pre-activations.</param>
    /// <param name="k">For <see cref="AutoencoderActivation.TopK"/>: latents kept per row.</param>
    /// <param name="postActivation">For TopK: the function applied to the kept values (TDB's <c>postact_fn</c>), ReLU or Identity.</param>
    /// <exception cref="ArgumentException">Shapes disagree, or TopK without a positive <paramref name="k"/>.</exception>
    public Autoencoder(torch.Tensor preBias, torch.Tensor encoderWeight, torch.Tensor latentBias, torch.Tensor decoderWeight,
        AutoencoderActivation activation, int? k = null, AutoencoderActivation postActivation = AutoencoderActivation.ReLU)
    {
        if (encoderWeight.dim() != 2) throw new ArgumentException($"encoder.weight must be [n_latents, n_inputs], got [{string.Join(", ", encoderWeight.shape)}]");
        NLatents = (int)encoderWeight.shape[0];
        NInputs = (int)encoderWeight.shape[1];
        Expect(preBias, "pre_bias", NInputs);
        Expect(latentBias, "latent_bias", NLatents);
        Expect(decoderWeight, "decoder.weight", NInputs, NLatents);
        if (activation == AutoencoderActivation.TopK && (k is null || k <= 0 || k > NLatents))
            throw new ArgumentException($"TopK needs 0 < k <= n_latents ({NLatents}), got {k?.ToString() ?? "none"}");
        if (postActivation == AutoencoderActivation.TopK) throw new ArgumentException("TopK's post-activation function must be ReLU or Identity");
        PreBias = preBias; EncoderWeight = encoderWeight; LatentBias = latentBias; DecoderWeight = decoderWeight;
        Activation = activation; K = activation == AutoencoderActivation.TopK ? k : null; PostActivation = postActivation;
    }

    /// <summary>Width of the encoded activation (<c>n_inputs</c>).</summary>
    public int NInputs { get; }
    /// <summary>Number of latents (<c>n_latents</c>).</summary>
    public int NLatents { get; }
    /// <summary>Nonlinearity on the latent pre-activations.</summary>
    public AutoencoderActivation Activation { get; }
    /// <summary>Latents kept per row for TopK; null otherwise.</summary>
    public int? K { get; }
    /// <summary>Function applied to the values TopK keeps.</summary>
    public AutoencoderActivation PostActivation { get; }
    /// <summary><c>[n_inputs]</c>.</summary>
    public torch.Tensor PreBias { get; private set; }
    /// <summary><c>[n_latents, n_inputs]</c>.</summary>
    public torch.Tensor EncoderWeight { get; private set; }
    /// <summary><c>[n_latents]</c>.</summary>
    public torch.Tensor LatentBias { get; private set; }
    /// <summary><c>[n_inputs, n_latents]</c>.</summary>
    public torch.Tensor DecoderWeight { get; private set; }

    /// <summary>Moves the weights to <paramref name="device"/> (no-op if already there).</summary>
    public void To(torch.Device device)
    {
        PreBias = Move(PreBias, device); EncoderWeight = Move(EncoderWeight, device);
        LatentBias = Move(LatentBias, device); DecoderWeight = Move(DecoderWeight, device);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        PreBias.Dispose(); EncoderWeight.Dispose(); LatentBias.Dispose(); DecoderWeight.Dispose();
    }

    private static torch.Tensor Move(torch.Tensor t, torch.Device device)
    {
        if (t.device == device) return t;
        var moved = t.to(device).DetachFromDisposeScope();
        t.Dispose();
        return moved;
    }

    private static void Expect(torch.Tensor t, string name, params long[] shape)
    {
        if (!t.shape.SequenceEqual(shape))
            throw new ArgumentException($"{name} must be [{string.Join(", ", shape)}], got [{string.Join(", ", t.shape)}]");
    }
}
