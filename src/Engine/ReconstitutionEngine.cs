using ReconService.Engine.Autoencoders;
using ReconService.Engine.Hooks;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Engine.Operations;
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
    public EnginePlan<TResult> Plan<TResult>(IEngineOperation<TResult> operation) where TResult : IEngineResult => operation.Plan(this);

    /// <inheritdoc />
    public TResult Run<TResult>(EnginePlan<TResult> plan) where TResult : IEngineResult
    {
        var result = plan.Operation.Run(this);
        foreach (var output in result.Tensors) OutputChecks.RequireFinite(output);
        return result;
    }

    /// <summary>The loaded transformer (tests check that requests never change it).</summary>
    internal Transformer Model => _model;

    /// <summary>Argument checks shared by the operations.</summary>
    internal RequestValidator Validator => _validate;

    /// <summary>TDB's reconstitution functions over this model.</summary>
    internal Reconstituter Reconstituter => _reconstituter;

    /// <summary>The autoencoder families by name.</summary>
    internal IReadOnlyDictionary<string, AutoencoderSet> AutoencoderSets => _autoencoders;

    /// <summary>Reads an input (in the caller's dispose scope) and rejects NaN or infinite values (422 naming <c>.data</c>).</summary>
    internal static Tensor Read(ITensorInput input)
    {
        var x = input.Read();
        RequestValidator.Finite(x, input.Field);
        return x;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _attribution?.Dispose();
        _model.Dispose();
        foreach (var set in _autoencoders.Values) set.Dispose();
    }

    private static AutoencoderInfo Describe(AutoencoderSet set)
    {
        var first = set.Layers.Values.First();
        return new AutoencoderInfo(set.Name, set.InputType, set.NodeType, [.. set.Layers.Keys.Order()],
            first.NLatents, first.NInputs, first.Activation, first.K) { Details = AutoencoderDetails.Of(set) };
    }

    /// <summary>The input on the engine's device with a batch axis, <c>[batch, tokens, width]</c>.</summary>
    internal Tensor Batch(Tensor x)
    {
        var onDevice = x.to(_device);
        return onDevice.dim() == 2 ? onDevice.unsqueeze(0) : onDevice;
    }

    /// <summary>
    /// d <paramref name="scalar"/>(x) / dx for every sequence at once (the scalar sums over the batch, and sequences
    /// are independent). Grad mode is enabled here whatever the caller's thread has.
    /// </summary>
    internal static Tensor GradientOf(Tensor input, HookTree? hooks, Func<Tensor, Tensor> scalar)
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
    internal static Tensor Compute(bool batched, Func<Tensor> compute) => ComputeMany(batched, () => [compute()])[0];

    /// <summary><see cref="Compute"/> for several results.</summary>
    internal static Tensor[] ComputeMany(bool batched, Func<Tensor[]> compute)
    {
        using var scope = NewDisposeScope();
        return compute().Select(t => Finish(t, batched).MoveToOuterDisposeScope()).ToArray();
    }

    internal static Tensor Finish(Tensor t, bool batched)
    {
        var cpu = t.detach().cpu();
        return (batched ? cpu : cpu.squeeze(0)).contiguous();
    }
}
