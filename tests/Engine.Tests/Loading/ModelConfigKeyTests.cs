using System.Text.Json.Nodes;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Loading;

/// <summary>Model <c>config.json</c> keys that change the computation are honoured or refused by name; empty extra tensors are tolerated and logged.</summary>
public sealed class ModelConfigKeyTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A copy of the golden Hugging Face model with <paramref name="edit"/> applied to its <c>config.json</c>.</summary>
    private string Model(Action<JsonObject> edit)
    {
        var folder = _temp.CopyFolder(TestPaths.Golden("model"), "hf-" + Guid.NewGuid().ToString("N"));
        var path = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
        return folder;
    }

    [SkippableTheory]
    [InlineData(null, MlpActivation.GeluTanh)]
    [InlineData("gelu_new", MlpActivation.GeluTanh)]
    [InlineData("gelu_pytorch_tanh", MlpActivation.GeluTanh)]
    [InlineData("gelu_fast", MlpActivation.GeluTanh)]
    [InlineData("gelu", MlpActivation.GeluErf)]
    [InlineData("gelu_python", MlpActivation.GeluErf)]
    public void ActivationFunctionIsReadFromTheConfig(string? name, MlpActivation expected)
    {
        var folder = Model(c => { if (name is null) c.Remove("activation_function"); else c["activation_function"] = name; });

        using var model = ModelLoader.Load(folder);

        Assert.Equal(expected, model.Config.Activation);
    }

    [SkippableFact]
    public void ErfGeluModelComputesTheExactGeluAndItsDerivative()
    {
        using var scope = NewDisposeScope();
        using var engine = new ReconstitutionEngine(ModelLoader.Load(Model(c => c["activation_function"] = "gelu")), []);
        var residual = randn([6, engine.Config.DModel], generator: new Generator(5));
        var write = randn([6, engine.Config.DModel], generator: new Generator(6));
        var pre = new ActivationSpec(NodeType.MlpNeuron, 1, PreOrPostAct.Pre);
        var post = pre with { PreOrPostAct = PreOrPostAct.Post };

        var x = engine.Activations(residual, pre).to_type(ScalarType.Float64);
        var exact = x * 0.5 * (1 + (x / Math.Sqrt(2)).erf());
        TensorAssert.Close(exact.to_type(ScalarType.Float32), engine.Activations(residual, post));

        // JVP of post = gelu'(pre) * JVP of pre, with gelu'(x) = Phi(x) + x phi(x).
        var derivative = 0.5 * (1 + (x / Math.Sqrt(2)).erf()) + x * (-(x * x) / 2).exp() / Math.Sqrt(2 * Math.PI);
        var expectedJvp = derivative * engine.Jvp(residual, pre, write).to_type(ScalarType.Float64);
        TensorAssert.Close(expectedJvp.to_type(ScalarType.Float32), engine.Jvp(residual, post, write), atol: 1e-4);
    }

    [SkippableFact]
    public void TanhAndErfModelsDifferOnlyInTheMlpNonlinearity()
    {
        using var scope = NewDisposeScope();
        using var tanh = new ReconstitutionEngine(ModelLoader.Load(Model(_ => { })), []);
        using var erf = new ReconstitutionEngine(ModelLoader.Load(Model(c => c["activation_function"] = "gelu")), []);
        var residual = randn([4, tanh.Config.DModel], generator: new Generator(8));
        var pre = new ActivationSpec(NodeType.MlpNeuron, 0, PreOrPostAct.Pre);

        TensorAssert.Identical(tanh.Activations(residual, pre), erf.Activations(residual, pre), "mlp.pre_act");
        Assert.False(tanh.Activations(residual, pre with { PreOrPostAct = PreOrPostAct.Post })
            .allclose(erf.Activations(residual, pre with { PreOrPostAct = PreOrPostAct.Post }), rtol: 0, atol: 1e-7));
    }

    public static TheoryData<string, string, string> RefusedKeys() => new()
    {
        { "activation_function", "\"relu\"", "key 'activation_function' is 'relu'" },
        { "activation_function", "\"silu\"", "key 'activation_function' is 'silu'" },
        { "n_inner", "100", "key 'n_inner' is 100" },
        { "scale_attn_weights", "false", "key 'scale_attn_weights' is false" },
        { "scale_attn_by_inverse_layer_idx", "true", "key 'scale_attn_by_inverse_layer_idx' is true" },
        { "add_cross_attention", "true", "key 'add_cross_attention' is true" },
        { "model_type", "\"gpt_neo\"", "key 'model_type' is 'gpt_neo'" },
    };

    [SkippableTheory]
    [MemberData(nameof(RefusedKeys))]
    public void ConfigKeysThatChangeTheModelAreRefusedByName(string key, string json, string message)
    {
        var folder = Model(c => c[key] = JsonNode.Parse(json));

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, Path.Combine(folder, "config.json"), key);
        Assert.Contains(message, error.Message);
    }

    [SkippableFact]
    public void NInnerOfFourTimesTheWidthIsAccepted()
    {
        var folder = Model(c => c["n_inner"] = 4 * c["n_embd"]!.GetValue<int>());

        using var model = ModelLoader.Load(folder);

        Assert.Equal(4 * model.Config.DModel, model.Config.DFf);
    }

    [SkippableFact]
    public void UntiedEmbeddingsWithoutLmHeadAreRefused()
    {
        var folder = Model(c => c["tie_word_embeddings"] = false);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, Path.Combine(folder, "model.safetensors"), "lm_head.weight");
        Assert.Contains("tie_word_embeddings false", error.Message);
    }

    [SkippableFact]
    public void ZeroSizeAndZeroRankExtraTensorsAreSkippedAndLogged()
    {
        var folder = Model(_ => { });
        var file = Path.Combine(folder, "model.safetensors");
        var fixture = SafetensorsFixture.Read(file);
        fixture.Tensors.Add(new SafetensorsFixture.Entry("transformer.h.0.attn.extra", "F32", [0, 64], []));
        fixture.Tensors.Add(new SafetensorsFixture.Entry("step", "I64", [], BitConverter.GetBytes(7L)));
        fixture.Tensors.Add(new SafetensorsFixture.Entry("h.1.attn.masked_bias", "F32", [], BitConverter.GetBytes(-1e4f)));
        fixture.Write(file);
        var log = new List<string>();

        using var model = ModelLoader.Load(folder, log.Add);
        using var reference = ModelLoader.Load(TestPaths.Golden("model"));

        Assert.Equal(reference.Parameters.Keys.Order(), model.Parameters.Keys.Order());
        Assert.Contains(log, l => l.Contains("'transformer.h.0.attn.extra'") && l.Contains("no elements"));
        Assert.Contains(log, l => l.Contains("'step'") && l.Contains("0-rank"));
        Assert.Contains(log, l => l.Contains("attention-mask buffers"));
    }

    [SkippableTheory]
    [InlineData("m_mlp", "8", "key 'm_mlp' is 8")]
    [InlineData("m_attn", "2", "key 'm_attn' is 2")]
    [InlineData("enc", "\"cl100k_base\"", "key 'enc' is 'cl100k_base'")]
    public void TdbConfigKeysThatChangeTheModelAreRefusedByName(string key, string json, string message)
    {
        var folder = _temp.CopyFolder(TestPaths.Golden("model_tdb"), "tdb");
        var path = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config[key] = JsonNode.Parse(json);
        File.WriteAllText(path, config.ToJsonString());

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, path, key);
        Assert.Contains(message, error.Message);
    }
}
