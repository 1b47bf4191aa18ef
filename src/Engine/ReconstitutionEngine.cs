using ReconService.Engine.Autoencoders;
using ReconService.Engine.Hooks;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine;

/// <summary>
/// The engine: one loaded transformer and its autoencoders, answering every reconstitution of TDB's
/// <c>reconstituted.py</c>, gradients and Jacobian-vector products. See <see cref="IReconstitutionEngine"/> for the
/// contract shared by all methods (shapes, ownership, errors). Thread-safe; each call builds its own hook tree.
/// </summary>
/// <remarks>
/// JVPs use exact forward-mode propagation (<see cref="Dual"/>): one pass computing value and tangent together,
/// instead of the two reverse passes TorchSharp would otherwise need.
/// </remarks>
public sealed partial class ReconstitutionEngine : IReconstitutionEngine, IDisposable
{
    private readonly Transformer _model;
    private readonly Dictionary<string, AutoencoderSet> _autoencoders;
    private readonly Reconstituter _reconstituter;
    private readonly RequestValidator _validate;
    private readonly Device _device;

    /// <summary>Builds the engine over loaded weights, which it then owns, on <paramref name="device"/>.</summary>
    /// <param name="checkpoint">The transformer's parameters.</param>
    /// <param name="autoencoders">Autoencoder families; names must be unique.</param>
    /// <param name="device"><c>cpu</c>, <c>cuda</c>, or <c>auto</c> (CUDA when available).</param>
    /// <exception cref="ArgumentException">Duplicate autoencoder names, an autoencoder whose width or layers do not fit the model, or an unknown device.</exception>
    public ReconstitutionEngine(GptCheckpoint checkpoint, IEnumerable<AutoencoderSet> autoencoders, string device = "cpu")
    {
        _device = device.ToLowerInvariant() switch
        {
            "cpu" => CPU,
            "cuda" => CUDA,
            "auto" => cuda.is_available() ? CUDA : CPU,
            _ => throw new ArgumentException($"Engine device must be cpu, cuda or auto, got '{device}'", nameof(device)),
        };
        Config = checkpoint.Config;
        _model = new Transformer(checkpoint);
        _model.to(_device);
        _autoencoders = [];
        foreach (var set in autoencoders)
        {
            if (!_autoencoders.TryAdd(set.Name, set)) throw new ArgumentException($"Autoencoder name '{set.Name}' is used twice", nameof(autoencoders));
            var width = set.InputType == AutoencoderInputType.MlpPostAct ? Config.DFf : Config.DModel;
            foreach (var (layer, autoencoder) in set.Layers)
            {
                if (layer < 0 || layer >= Config.NLayers)
                    throw new ArgumentException($"Autoencoder '{set.Name}' has layer {layer}; the model has {Config.NLayers} layers", nameof(autoencoders));
                if (autoencoder.NInputs != width)
                    throw new ArgumentException($"Autoencoder '{set.Name}' layer {layer} encodes width {autoencoder.NInputs}; {set.InputType} has width {width}", nameof(autoencoders));
                autoencoder.To(_device);
            }
        }
        _reconstituter = new Reconstituter(_model, _autoencoders);
        _validate = new RequestValidator(Config, _autoencoders);
        Autoencoders = _autoencoders.Values.ToDictionary(s => s.Name, Describe);
    }

    /// <inheritdoc />
    public GptConfig Config { get; }

    /// <inheritdoc />
    public string Device => _device.type == DeviceType.CUDA ? "cuda" : "cpu";

    /// <inheritdoc />
    public IReadOnlyDictionary<string, AutoencoderInfo> Autoencoders { get; }

    /// <inheritdoc />
    public long LiveTensorCount => Tensor.TotalCount;

    /// <inheritdoc />
    public Tensor Activations(Tensor residual, ActivationSpec spec)
    {
        var batched = _validate.Residual(residual);
        spec = _validate.Spec(spec);
        return Run(batched, () =>
        {
            using var _ = no_grad();
            return _reconstituter.Activation(Batch(residual), spec).Value;
        });
    }

    /// <inheritdoc />
    public Tensor Gradient(Tensor residual, ActivationSpec spec, IReadOnlyList<long> tensorIndices) =>
        Gradient(residual, spec, tensorIndices, new HookTree());

    /// <summary>
    /// <see cref="Gradient(Tensor, ActivationSpec, IReadOnlyList{long})"/> with caller-supplied hooks added to the
    /// request's own: <c>bwd</c> hooks receive the gradient at their location after the backward pass.
    /// </summary>
    public Tensor Gradient(Tensor residual, ActivationSpec spec, IReadOnlyList<long> tensorIndices, HookTree hooks)
    {
        var batched = _validate.Residual(residual);
        spec = _validate.Spec(spec);
        _validate.TensorIndices(tensorIndices, spec, _validate.ActivationShape(spec, residual.shape[^2]));
        return Run(batched, () => GradientOf(Batch(residual), hooks, x =>
        {
            var activation = _reconstituter.Activation(x, spec, hooks).Value;
            return activation[[TensorIndex.Ellipsis, .. tensorIndices.Select(i => TensorIndex.Single(i))]].sum();
        }));
    }

    /// <summary>The loaded transformer (tests check that requests never change it).</summary>
    internal Transformer Model => _model;

    /// <inheritdoc />
    public Tensor Jvp(Tensor residual, ActivationSpec spec, Tensor writeVector)
    {
        var batched = _validate.Residual(residual);
        spec = _validate.Spec(spec);
        if (!writeVector.shape.SequenceEqual(residual.shape))
            throw new ReconstitutionException("writeVector.shape",
                $"expected the residual's shape {TensorChecks.Format(residual.shape)}, got {TensorChecks.Format(writeVector.shape)}");
        _validate.Residual(writeVector, "writeVector");
        return Run(batched, () =>
        {
            using var _ = no_grad();
            var activation = _reconstituter.Activation(new Dual(Batch(residual), Batch(writeVector)), spec);
            return activation.Tangent ?? zeros_like(activation.Value);
        });
    }

    /// <inheritdoc />
    public Tensor ResidDeltaAttn(Tensor residual, int layerIndex, bool detachLayerNormScale = true) =>
        Forward(residual, layerIndex, x => _reconstituter.ResidDeltaAttn(x, layerIndex, detachLayerNormScale).Value);

    /// <inheritdoc />
    public Tensor ResidDeltaMlp(Tensor residual, int layerIndex, bool detachLayerNormScale = true) =>
        Forward(residual, layerIndex, x => _reconstituter.ResidDeltaMlp(x, layerIndex, detachLayerNormScale).Value);

    /// <inheritdoc />
    public (Tensor Attention, Tensor Values) AttentionValues(Tensor residual, int layerIndex, bool detachLayerNormScale = true,
        AttentionTraceType? attentionTraceType = null)
    {
        var batched = _validate.Residual(residual);
        _validate.Layer(layerIndex);
        var results = RunMany(batched, () =>
        {
            using var _ = no_grad();
            var (probs, values) = _reconstituter.AttentionValues(Batch(residual), layerIndex, detachLayerNormScale, attentionTraceType);
            return [probs.Value, values.Value];
        });
        return (results[0], results[1]);
    }

    /// <inheritdoc />
    public Tensor Logits(Tensor residual, bool detachLayerNormScale = true) =>
        Forward(residual, null, x => _reconstituter.Logits(x, detachLayerNormScale).Value);

    /// <inheritdoc />
    public Tensor Logprobs(Tensor residual, bool detachLayerNormScale = true) =>
        Forward(residual, null, x => _reconstituter.Logprobs(x, detachLayerNormScale).Value);

    /// <inheritdoc />
    public Tensor Encode(string autoencoder, Tensor activations, int layerIndex)
    {
        var ae = _validate.Autoencoder(autoencoder, layerIndex);
        var batched = _validate.Activations(activations, ae.NInputs, "n_inputs", "activations");
        return Run(batched, () =>
        {
            using var _ = no_grad();
            return ae.Encode(Batch(activations)).Value;
        });
    }

    /// <inheritdoc />
    public Tensor LatentGradient(string autoencoder, Tensor activations, int layerIndex, int latentIndex)
    {
        var ae = _validate.Autoencoder(autoencoder, layerIndex);
        var batched = _validate.Activations(activations, ae.NInputs, "n_inputs", "activations");
        if (latentIndex < 0 || latentIndex >= ae.NLatents)
            throw new ReconstitutionException("latentIndex", $"expected 0 <= latentIndex < n_latents ({ae.NLatents}), got {latentIndex}");
        return Run(batched, () => GradientOf(Batch(activations), null, x => ae.Encode(x).Value[TensorIndex.Ellipsis, latentIndex].sum()));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _model.Dispose();
        foreach (var set in _autoencoders.Values) set.Dispose();
    }

    private static AutoencoderInfo Describe(AutoencoderSet set)
    {
        var first = set.Layers.Values.First();
        return new AutoencoderInfo(set.Name, set.InputType, set.NodeType, [.. set.Layers.Keys.Order()],
            first.NLatents, first.NInputs, first.Activation, first.K) { Details = AutoencoderDetails.Of(set) };
    }

    private Tensor Forward(Tensor residual, int? layerIndex, Func<Tensor, Tensor> compute)
    {
        var batched = _validate.Residual(residual);
        if (layerIndex is int layer) _validate.Layer(layer);
        return Run(batched, () =>
        {
            using var _ = no_grad();
            return compute(Batch(residual));
        });
    }

    /// <summary>The input on the engine's device with a batch axis, <c>[batch, tokens, width]</c>.</summary>
    private Tensor Batch(Tensor x)
    {
        var onDevice = x.to(_device);
        return onDevice.dim() == 2 ? onDevice.unsqueeze(0) : onDevice;
    }

    /// <summary>
    /// d <paramref name="scalar"/>(x) / dx for every sequence at once (the scalar sums over the batch, and sequences
    /// are independent). Grad mode is enabled here whatever the caller's thread has.
    /// </summary>
    private static Tensor GradientOf(Tensor input, HookTree? hooks, Func<Tensor, Tensor> scalar)
    {
        using var _ = enable_grad();
        var x = input.detach().requires_grad_(true);
        var y = scalar(x);
        if (!y.requires_grad) return zeros_like(x);
        var probes = hooks?.Probes ?? [];
        var gradients = autograd.grad([y], [x, .. probes], allow_unused: true);
        hooks?.DeliverGradients([.. gradients.Skip(1).Select((g, i) => g ?? zeros_like(probes[i]))]);
        return gradients[0] ?? zeros_like(x);
    }

    /// <summary>
    /// Runs <paramref name="compute"/> in a dispose scope, returning its result on the CPU without the batch axis
    /// when the input had none; every intermediate is disposed.
    /// </summary>
    private static Tensor Run(bool batched, Func<Tensor> compute) => RunMany(batched, () => [compute()])[0];

    /// <summary><see cref="Run"/> for several results.</summary>
    private static Tensor[] RunMany(bool batched, Func<Tensor[]> compute)
    {
        using var scope = NewDisposeScope();
        return compute().Select(t => Finish(t, batched).MoveToOuterDisposeScope()).ToArray();
    }

    private static Tensor Finish(Tensor t, bool batched)
    {
        var cpu = t.detach().cpu();
        return (batched ? cpu : cpu.squeeze(0)).contiguous();
    }
}
