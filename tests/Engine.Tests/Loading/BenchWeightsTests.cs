using ReconService.Bench.Weights;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Models;

namespace ReconService.Engine.Tests.Loading;

/// <summary>The benchmark's generated weights (bench/ReconService.Bench/Weights), written small and read back by the real loaders.</summary>
public sealed class BenchWeightsTests : IDisposable
{
    private static readonly WeightShape Small = new(DModel: 16, NLayers: 2, NHeads: 2, NVocab: 50, NCtx: 8, NLatents: 32, Layer: 1);
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "bench-weights-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public void TheWrittenModelLoadsThroughModelLoaderWithTheShapesOfItsConfig()
    {
        var weights = BenchWeights.Write(_folder, Small);

        using var model = ModelLoader.Load(weights.ModelFolder);

        Assert.Equal(new GptConfig(DModel: 16, NLayers: 2, NHeads: 2, NCtx: 8, NVocab: 50), model.Config);
        var expected = GptParameters.Expected(model.Config);
        Assert.Equal(expected.Select(e => e.Name).Order(), model.Parameters.Keys.Order());
        foreach (var (name, shape) in expected) Assert.Equal(shape, model.Parameters[name].shape);
        Assert.All(model.Parameters.Values, t => Assert.True(t.isfinite().all().item<bool>()));
    }

    [Fact]
    public void TheWrittenAutoencoderLoadsThroughAutoencoderLoaderOnMlpPostActOfItsLayer()
    {
        var weights = BenchWeights.Write(_folder, Small);

        using var set = AutoencoderLoader.Load("bench", weights.AutoencoderFolder);

        Assert.Equal(AutoencoderInputType.MlpPostAct, set.InputType);
        var autoencoder = Assert.Single(set.Layers);
        Assert.Equal(Small.Layer, autoencoder.Key);
        Assert.Equal(Small.DFf, autoencoder.Value.NInputs);
        Assert.Equal(Small.NLatents, autoencoder.Value.NLatents);
    }

    [Fact]
    public void WritingIsDeterministic()
    {
        var first = BenchWeights.Write(Path.Combine(_folder, "a"), Small);
        var second = BenchWeights.Write(Path.Combine(_folder, "b"), Small);

        Assert.Equal(File.ReadAllBytes(Path.Combine(first.ModelFolder, "model.safetensors")),
            File.ReadAllBytes(Path.Combine(second.ModelFolder, "model.safetensors")));
    }
}
