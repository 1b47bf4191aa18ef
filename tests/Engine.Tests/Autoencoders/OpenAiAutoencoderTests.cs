using ReconService.Engine.Loading;
using ReconService.Models;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Autoencoders;

/// <summary>OpenAI/TDB <c>&lt;layer&gt;.pt</c> autoencoders written by the test (torch.save state dicts, via TorchSharp.PyBridge).</summary>
public sealed class OpenAiAutoencoderTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private const int NInputs = 16, NLatents = 24;

    /// <summary>Writes <c>&lt;folder&gt;/0.pt</c> holding TDB's four weights and nothing else (no <c>activation</c> entry).</summary>
    private (string Folder, Dictionary<string, Tensor> Weights) WriteWithoutActivation(string name)
    {
        var folder = Path.Combine(_temp.Path, name, "autoencoders");
        Directory.CreateDirectory(folder);
        var g = new Generator(21);
        var weights = new Dictionary<string, Tensor>
        {
            ["pre_bias"] = randn([NInputs], generator: g), ["encoder.weight"] = randn([NLatents, NInputs], generator: g),
            ["latent_bias"] = randn([NLatents], generator: g), ["decoder.weight"] = randn([NInputs, NLatents], generator: g),
        };
        using var stream = File.Create(Path.Combine(folder, "0.pt"));
        PyTorchPickler.PickleStateDict(stream, weights);
        return (folder, weights);
    }

    [Fact]
    public void AFileWithoutAnActivationEntryIsRefusedNotReadAsReLU()
    {
        var (folder, _) = WriteWithoutActivation("resid_delta_mlp");

        var error = Assert.Throws<WeightLoadException>(() => AutoencoderLoader.Load("old", folder));

        Loading.LoadErrorAssert.Names(error, Path.Combine(folder, "0.pt"), "activation");
        Assert.Contains("missing entry 'activation'", error.Message);
    }

    [Fact]
    public void GoldenFilesReportOpenAiFormatAndTdbPreprocessing()
    {
        using var set = AutoencoderLoader.Load("a", TestPaths.Golden("sae", "resid_delta_attn", "autoencoders"));

        Assert.Equal("openai", set.Description.Format);
        Assert.All(set.Layers.Values, a => Assert.Equal(Engine.Autoencoders.AutoencoderPreprocessing.None, a.Preprocessing));
        Assert.Equal(set.Layers[0].Activation == AutoencoderActivation.TopK ? "topk" : "standard", set.Description.Architecture);
    }
}
