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

    /// <summary>
    /// Writes <c>&lt;folder&gt;/&lt;layer&gt;.pt</c> for layers 0 and 1 as TDB's <c>Autoencoder.state_dict</c> does: the four weights,
    /// the bookkeeping buffers, <c>activation</c> (a class name) and <c>activation_state_dict</c>.
    /// </summary>
    private static Dictionary<int, Dictionary<string, Tensor>> WriteFamily(string folder, int nInputs, string activation, int? k = null, string postact = "ReLU")
    {
        Directory.CreateDirectory(folder);
        var layers = new Dictionary<int, Dictionary<string, Tensor>>();
        foreach (var layer in new[] { 0, 1 })
        {
            var g = new Generator((ulong)(30 + layer));
            var weights = new Dictionary<string, Tensor>
            {
                ["pre_bias"] = randn([nInputs], generator: g) * 0.3f, ["encoder.weight"] = randn([NLatents, nInputs], generator: g) * 0.3f,
                ["latent_bias"] = randn([NLatents], generator: g) * 0.3f, ["decoder.weight"] = randn([nInputs, NLatents], generator: g) * 0.3f,
            };
            var state = new System.Collections.Hashtable();
            foreach (var (name, tensor) in weights) state[name] = tensor;
            state["stats_last_nonzero"] = zeros([NLatents], dtype: ScalarType.Int64);
            state["latents_activation_frequency"] = zeros(NLatents);
            state["latents_mean_square"] = zeros(NLatents);
            state["activation"] = activation;
            state["activation_state_dict"] = k is { } kept
                ? new System.Collections.Hashtable { ["k"] = kept, ["postact_fn"] = postact }
                : new System.Collections.Hashtable();
            using (var stream = File.Create(Path.Combine(folder, $"{layer}.pt"))) PyTorchPickler.PickleStateDict(stream, state);
            layers[layer] = weights;
        }
        return layers;
    }

    /// <summary>TDB's <c>Autoencoder</c> written out: <c>act((x - pre_bias) W_enc^T + latent_bias)</c> and <c>latents W_dec^T + pre_bias</c>.</summary>
    private static (Tensor Latents, Tensor Reconstruction) Reference(Dictionary<string, Tensor> w, Tensor x, string activation, int? k, string postact, bool centre)
    {
        if (centre) x = x - x.mean([-1], keepdim: true);
        var pre = (x - w["pre_bias"]).matmul(w["encoder.weight"].t()) + w["latent_bias"];
        var latents = activation switch
        {
            "ReLU" => pre.relu(),
            "Identity" => pre,
            _ => zeros_like(pre).scatter(-1, pre.topk(k!.Value, dim: -1).indexes,
                postact == "ReLU" ? pre.topk(k.Value, dim: -1).values.relu() : pre.topk(k.Value, dim: -1).values),
        };
        return (latents, latents.matmul(w["decoder.weight"].t()) + w["pre_bias"]);
    }

    [Theory]
    [InlineData("mlp_post_act_v1", null, "ReLU", null, "ReLU", false)]
    [InlineData("my_attention_saes", "resid.delta_attn", "TopK", 4, "ReLU", false)]
    [InlineData("resid_delta_mlp_v5_32k", null, "TopK", 6, "Identity", false)]
    [InlineData("my_identity", "resid.delta_mlp", "Identity", null, "ReLU", false)]
    [InlineData("my_residual_saes", "resid.pre", "ReLU", null, "ReLU", true)]
    public void GeneratedFilesEncodeAndDecodeAsTdb(string release, string? inputType, string activation, int? k, string postact, bool centre)
    {
        using var scope = NewDisposeScope();
        var width = release.StartsWith("mlp_post_act", StringComparison.Ordinal) ? 4 * NInputs : NInputs;
        var folder = Path.Combine(_temp.Path, release, "autoencoders");
        var layers = WriteFamily(folder, width, activation, k, postact);
        var type = inputType is null ? (AutoencoderInputType?)null : AutoencoderInputTypes.Parse(inputType);

        using var set = AutoencoderLoader.Load("a", folder, type, centerWritingWeights: centre ? true : null);

        Assert.Equal(inputType is null ? AutoencoderInputTypes.FromPath(folder) : type, set.InputType);
        Assert.Equal(activation == "TopK" ? "topk" : "standard", set.Description.Architecture);
        foreach (var (layer, weights) in layers)
        {
            var x = randn([5, width], generator: new Generator(77)) + 0.2f;
            var (latents, reconstruction) = Reference(weights, x, activation, k, postact, centre);
            var encoded = set.Layers[layer].Encode(x).Value;
            TensorAssert.Close(latents, encoded);
            TensorAssert.Close(reconstruction, set.Layers[layer].Decode(encoded, x).Value, atol: 1e-4);
        }
    }

    [Fact]
    public void AFileWithoutAnActivationEntryIsRefusedNotReadAsReLU()
    {
        var (folder, _) = WriteWithoutActivation("resid_delta_mlp");

        var error = Assert.Throws<WeightLoadException>(() => AutoencoderLoader.Load("old", folder));

        Loading.LoadErrorAssert.Names(error, Path.Combine(folder, "0.pt"), "activation");
        Assert.Contains("missing entry 'activation'", error.Message);
    }

    [SkippableFact]
    public void GoldenFilesReportOpenAiFormatAndTdbPreprocessing()
    {
        using var set = AutoencoderLoader.Load("a", TestPaths.Golden("sae", "resid_delta_attn", "autoencoders"));

        Assert.Equal("openai", set.Description.Format);
        Assert.All(set.Layers.Values, a => Assert.Equal(Engine.Autoencoders.AutoencoderPreprocessing.None, a.Preprocessing));
        Assert.Equal(set.Layers[0].Activation == AutoencoderActivation.TopK ? "topk" : "standard", set.Description.Architecture);
    }
}
