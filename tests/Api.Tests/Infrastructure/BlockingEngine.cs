using Microsoft.Extensions.DependencyInjection;
using ReconService.Api.Hosting;
using ReconService.Engine;
using ReconService.Engine.Model;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using TorchSharp;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>An engine whose <see cref="Activations"/> holds the request until released; everything else is unused.</summary>
public sealed class BlockingEngine : IReconstitutionEngine
{
    public ManualResetEventSlim Entered { get; } = new();
    public ManualResetEventSlim Release { get; } = new();

    /// <summary>libtorch's intra-op thread count on the thread that ran the last <see cref="Activations"/>.</summary>
    public int ThreadsSeen { get; private set; }

    public GptConfig Config { get; } = new(DModel: 8, NLayers: 1, NHeads: 2, NCtx: 16, NVocab: 10);
    public string Device => "cpu";
    public IReadOnlyDictionary<string, AutoencoderInfo> Autoencoders { get; } = new Dictionary<string, AutoencoderInfo>();
    public long LiveTensorCount => torch.Tensor.TotalCount;

    public torch.Tensor Activations(torch.Tensor residual, ActivationSpec spec)
    {
        ThreadsSeen = torch.get_num_threads();
        Entered.Set();
        Release.Wait(TimeSpan.FromMinutes(1));
        return torch.zeros(residual.shape[0], Config.DFf);
    }

    public torch.Tensor Gradient(torch.Tensor residual, ActivationSpec spec, IReadOnlyList<long> tensorIndices) => throw new NotSupportedException();
    public torch.Tensor Jvp(torch.Tensor residual, ActivationSpec spec, torch.Tensor writeVector) => throw new NotSupportedException();
    public torch.Tensor ResidDeltaAttn(torch.Tensor residual, int layerIndex, bool detachLayerNormScale = true) => throw new NotSupportedException();
    public torch.Tensor ResidDeltaMlp(torch.Tensor residual, int layerIndex, bool detachLayerNormScale = true) => throw new NotSupportedException();
    public (torch.Tensor Attention, torch.Tensor Values) AttentionValues(torch.Tensor residual, int layerIndex, bool detachLayerNormScale = true,
        AttentionTraceType? attentionTraceType = null) => throw new NotSupportedException();
    public torch.Tensor Logits(torch.Tensor residual, bool detachLayerNormScale = true) => throw new NotSupportedException();
    public torch.Tensor Logprobs(torch.Tensor residual, bool detachLayerNormScale = true) => throw new NotSupportedException();
    public torch.Tensor Encode(string autoencoder, torch.Tensor activations, int layerIndex) => throw new NotSupportedException();
    public torch.Tensor LatentGradient(string autoencoder, torch.Tensor activations, int layerIndex, int latentIndex) => throw new NotSupportedException();
    public ForwardResult Forward(torch.Tensor tokens, IReadOnlyCollection<string> capture, IReadOnlyCollection<int>? layers = null) => throw new NotSupportedException();
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
