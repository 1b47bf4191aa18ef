using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine.Autoencoders;

/// <summary>What an autoencoder does to its input before encoding, and what its decoder's output is compared with.</summary>
/// <param name="CentreInput">
/// Subtract the input's mean over its last axis first: the autoencoder was trained on a TransformerLens model loaded with
/// <c>center_writing_weights</c>, whose residual-stream writes (and so the residual, <c>hook_attn_out</c>,
/// <c>hook_mlp_out</c>) have zero mean; the mean is invisible to every layer norm, so this is the same model.
/// </param>
/// <param name="Normalization">SAELens <c>normalize_activations</c>, applied after centring.</param>
/// <param name="CentreOutput">For a transcoder: the output it reconstructs is the centred MLP output.</param>
public sealed record AutoencoderPreprocessing(bool CentreInput = false, AutoencoderNormalization Normalization = AutoencoderNormalization.None,
    bool CentreOutput = false)
{
    /// <summary>No preprocessing: TDB's autoencoder.</summary>
    public static readonly AutoencoderPreprocessing None = new();
}

/// <summary>
/// One sparse autoencoder (or transcoder), as TDB's <c>Autoencoder</c> computes it, extended to SAELens's families:
/// <c>x' = preprocess(x)</c> (centring, normalisation; none for TDB's),
/// <c>latents_pre = (x' - pre_bias) W_enc^T + latent_bias</c>, <c>latents = act(latents_pre)</c>,
/// <c>reconstruction = latents W_dec^T + decoder_bias</c>, un-normalised. Weights are float32 and owned by this object.
/// </summary>
/// <remarks>
/// SAELens weights map on as <c>encoder.weight = W_enc^T</c>, <c>decoder.weight = W_dec^T</c>, <c>pre_bias = b_dec</c>
/// (zeros for a transcoder, whose <c>b_dec</c> is the decoder bias of its output), <c>latent_bias = b_enc</c>, with
/// <c>b_dec W_enc</c> folded into <c>latent_bias</c> when <c>apply_b_dec_to_input</c> is false; every other SAELens option
/// that is a fixed linear change (TopK's <c>rescale_acts_by_decoder_norm</c>, <c>finetuning_scaling_factor</c>) is folded
/// into the weights by the loader, so latents and reconstructions are SAELens's own.
/// </remarks>
public sealed partial class Autoencoder : IDisposable
{
    private torch.Tensor? _decoderBias;

    /// <summary>Creates an autoencoder from its weights (float32, any device; moved with <see cref="To"/>).</summary>
    /// <param name="preBias"><c>[n_inputs]</c>, subtracted before encoding (and, without <paramref name="decoderBias"/>, added after decoding).</param>
    /// <param name="encoderWeight"><c>[n_latents, n_inputs]</c>.</param>
    /// <param name="latentBias"><c>[n_latents]</c>.</param>
    /// <param name="decoderWeight"><c>[n_outputs, n_latents]</c>; <c>n_outputs = n_inputs</c> unless <paramref name="decoderBias"/> is given.</param>
    /// <param name="activation">Nonlinearity on the latent pre-activations.</param>
    /// <param name="k">For <see cref="AutoencoderActivation.TopK"/>: latents kept per row.</param>
    /// <param name="postActivation">For TopK: the function applied to the kept values (TDB's <c>postact_fn</c>), ReLU or Identity.</param>
    /// <param name="threshold">For <see cref="AutoencoderActivation.JumpReLU"/>: <c>[n_latents]</c>, a latent is kept where its pre-activation exceeds it.</param>
    /// <param name="decoderBias">A transcoder's output bias <c>[n_outputs]</c>; null for an autoencoder, whose decoder adds <paramref name="preBias"/>.</param>
    /// <param name="preprocessing">Input preprocessing; none when null.</param>
    /// <exception cref="ArgumentException">
    /// Shapes disagree, TopK without a positive <paramref name="k"/>, JumpReLU without a threshold, or a threshold for another activation.
    /// </exception>
    public Autoencoder(torch.Tensor preBias, torch.Tensor encoderWeight, torch.Tensor latentBias, torch.Tensor decoderWeight,
        AutoencoderActivation activation, int? k = null, AutoencoderActivation postActivation = AutoencoderActivation.ReLU,
        torch.Tensor? threshold = null, torch.Tensor? decoderBias = null, AutoencoderPreprocessing? preprocessing = null)
    {
        if (encoderWeight.dim() != 2) throw new ArgumentException($"encoder.weight must be [n_latents, n_inputs], got [{string.Join(", ", encoderWeight.shape)}]");
        NLatents = (int)encoderWeight.shape[0];
        NInputs = (int)encoderWeight.shape[1];
        if (decoderBias is not null && decoderBias.dim() != 1)
            throw new ArgumentException($"the decoder bias must be [n_outputs], got [{string.Join(", ", decoderBias.shape)}]");
        NOutputs = decoderBias is null ? NInputs : (int)decoderBias.shape[0];
        Expect(preBias, "pre_bias", NInputs);
        Expect(latentBias, "latent_bias", NLatents);
        Expect(decoderWeight, "decoder.weight", NOutputs, NLatents);
        if (activation == AutoencoderActivation.TopK && (k is null || k <= 0 || k > NLatents))
            throw new ArgumentException($"TopK needs 0 < k <= n_latents ({NLatents}), got {k?.ToString() ?? "none"}");
        if (postActivation is AutoencoderActivation.TopK or AutoencoderActivation.JumpReLU)
            throw new ArgumentException("TopK's post-activation function must be ReLU or Identity");
        if ((activation == AutoencoderActivation.JumpReLU) != (threshold is not null))
            throw new ArgumentException("a threshold goes with the JumpReLU activation, and only with it");
        if (threshold is not null) Expect(threshold, "threshold", NLatents);
        PreBias = preBias; EncoderWeight = encoderWeight; LatentBias = latentBias; DecoderWeight = decoderWeight;
        Activation = activation; K = activation == AutoencoderActivation.TopK ? k : null; PostActivation = postActivation;
        Threshold = threshold; _decoderBias = decoderBias;
        Preprocessing = preprocessing ?? AutoencoderPreprocessing.None;
        if (Preprocessing.Normalization != AutoencoderNormalization.None && NInputs < 2)
            throw new ArgumentException("input normalisation needs at least two inputs");
    }

    /// <summary>Width of the encoded activation (<c>n_inputs</c>).</summary>
    public int NInputs { get; }
    /// <summary>Width of the reconstruction: <c>n_inputs</c> for an autoencoder, the output width for a transcoder.</summary>
    public int NOutputs { get; }
    /// <summary>Number of latents (<c>n_latents</c>).</summary>
    public int NLatents { get; }
    /// <summary>True for a transcoder: it reconstructs another activation than it reads, with its own decoder bias.</summary>
    public bool IsTranscoder => _decoderBias is not null;
    /// <summary>Nonlinearity on the latent pre-activations.</summary>
    public AutoencoderActivation Activation { get; }
    /// <summary>Latents kept per row for TopK; null otherwise.</summary>
    public int? K { get; }
    /// <summary>Function applied to the values TopK keeps.</summary>
    public AutoencoderActivation PostActivation { get; }
    /// <summary>Centring and normalisation applied to the input before encoding.</summary>
    public AutoencoderPreprocessing Preprocessing { get; }
    /// <summary><c>[n_inputs]</c>; zeros for a transcoder.</summary>
    public torch.Tensor PreBias { get; private set; }
    /// <summary><c>[n_latents, n_inputs]</c>.</summary>
    public torch.Tensor EncoderWeight { get; private set; }
    /// <summary><c>[n_latents]</c>.</summary>
    public torch.Tensor LatentBias { get; private set; }
    /// <summary><c>[n_outputs, n_latents]</c>.</summary>
    public torch.Tensor DecoderWeight { get; private set; }
    /// <summary>JumpReLU's threshold <c>[n_latents]</c>; null for other activations.</summary>
    public torch.Tensor? Threshold { get; private set; }
    /// <summary>Added after decoding, <c>[n_outputs]</c>: <see cref="PreBias"/> for an autoencoder, the output bias for a transcoder.</summary>
    public torch.Tensor DecoderBias => _decoderBias ?? PreBias;

    /// <summary>Moves the weights to <paramref name="device"/> (no-op if already there).</summary>
    public void To(torch.Device device)
    {
        PreBias = Move(PreBias, device); EncoderWeight = Move(EncoderWeight, device);
        LatentBias = Move(LatentBias, device); DecoderWeight = Move(DecoderWeight, device);
        if (Threshold is not null) Threshold = Move(Threshold, device);
        if (_decoderBias is not null) _decoderBias = Move(_decoderBias, device);
    }

    /// <summary>Detaches every weight from the current dispose scope (the loader builds autoencoders inside one).</summary>
    internal void DetachFromDisposeScope()
    {
        PreBias.DetachFromDisposeScope(); EncoderWeight.DetachFromDisposeScope();
        LatentBias.DetachFromDisposeScope(); DecoderWeight.DetachFromDisposeScope();
        Threshold?.DetachFromDisposeScope(); _decoderBias?.DetachFromDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        PreBias.Dispose(); EncoderWeight.Dispose(); LatentBias.Dispose(); DecoderWeight.Dispose();
        Threshold?.Dispose(); _decoderBias?.Dispose();
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
