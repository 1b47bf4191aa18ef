using Microsoft.Extensions.DependencyInjection;
using ReconService.Api.Hosting;
using ReconService.Engine;
using ReconService.Engine.Model;
using ReconService.Engine.Operations;
using TorchSharp;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>An engine whose activations hold the request until released; everything else is unused.</summary>
public sealed class BlockingEngine : IReconstitutionEngine
{
    public ManualResetEventSlim Entered { get; } = new();
    public ManualResetEventSlim Release { get; } = new();

    /// <summary>libtorch's intra-op thread count on the thread that ran the last request.</summary>
    public int ThreadsSeen { get; private set; }

    public GptConfig Config { get; } = new(DModel: 8, NLayers: 1, NHeads: 2, NCtx: 16, NVocab: 10);
    public string Device => "cpu";
    public IReadOnlyDictionary<string, AutoencoderInfo> Autoencoders { get; } = new Dictionary<string, AutoencoderInfo>();
    public long LiveTensorCount => torch.Tensor.TotalCount;

    /// <summary>Plans only <see cref="ActivationsOperation"/>: <c>[tokens, d_ff]</c>, 1 KiB of working memory.</summary>
    public EnginePlan<TResult> Plan<TResult>(IEngineOperation<TResult> operation) where TResult : IEngineResult => operation switch
    {
        ActivationsOperation a => new(operation, [a.Residual], [new TensorPlan("activations", [a.Residual.Shape[0], Config.DFf])], 1024),
        _ => throw new NotSupportedException(),
    };

    /// <summary>Holds the request until <see cref="Release"/>, then answers zeros.</summary>
    public TResult Run<TResult>(EnginePlan<TResult> plan) where TResult : IEngineResult
    {
        ThreadsSeen = torch.get_num_threads();
        Entered.Set();
        Release.Wait(TimeSpan.FromMinutes(1));
        var residual = plan.Inputs[0].Read();
        return (TResult)(IEngineResult)new TensorResult(new NamedTensor("activations", torch.zeros(residual.shape[0], Config.DFf)));
    }
}

/// <summary>The service over a <see cref="BlockingEngine"/>.</summary>
public sealed class BlockingEngineFactory(Dictionary<string, string?> settings) : ServiceFactory(settings)
{
    public BlockingEngine Engine { get; } = new();

    protected override void ConfigureTestServices(IServiceCollection services) =>
        services.AddSingleton<IEngineLoader>(new FixedLoader(Engine));

    protected override void Dispose(bool disposing)
    {
        Engine.Release.Set();
        base.Dispose(disposing);
    }

    private sealed class FixedLoader(IReconstitutionEngine engine) : IEngineLoader
    {
        public IReconstitutionEngine Load(EngineOptions options) => engine;
    }
}
