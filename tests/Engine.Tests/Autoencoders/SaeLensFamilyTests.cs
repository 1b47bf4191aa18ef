using System.Text.Json.Nodes;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Loading;
using ReconService.Models;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Autoencoders;

/// <summary>
/// SAELens autoencoders and transcoders of every supported family, written by the test in SAELens 5 and 6 layouts with
/// random weights, loaded by <see cref="AutoencoderLoader"/>, and compared with SAELens's encode and decode written out
/// directly (<see cref="SaeSpec.Reference"/>).
/// </summary>
public sealed class SaeLensFamilyTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private const int DModel = 16, DFf = 64, DSae = 32;

    private static readonly Dictionary<string, SaeSpec> Families = new()
    {
        ["v5 standard mlp.hook_post"] = new("standard", "blocks.{0}.mlp.hook_post", DFf, DSae, Version6: false),
        ["v6 standard hook_resid_pre"] = new("standard", "blocks.{0}.hook_resid_pre", DModel, DSae, Version6: true),
        ["v5 topk hook_mlp_out"] = new("topk", "blocks.{0}.hook_mlp_out", DModel, DSae, Version6: false) { K = 5 },
        ["v5 standard+topk activation hook_attn_out"] = new("standard", "blocks.{0}.hook_attn_out", DModel, DSae, Version6: false) { K = 4 },
        ["v6 topk rescaled by decoder norm hook_attn_out"] = new("topk", "blocks.{0}.hook_attn_out", DModel, DSae, Version6: true) { K = 6, RescaleByDecoderNorm = true },
        ["v6 jumprelu hook_resid_post"] = new("jumprelu", "blocks.{0}.hook_resid_post", DModel, DSae, Version6: true),
        ["v6 jumprelu log_threshold hook_resid_mid"] = new("jumprelu", "blocks.{0}.hook_resid_mid", DModel, DSae, Version6: true) { LogThreshold = true },
        ["v5 jumprelu hook_resid_pre"] = new("jumprelu", "blocks.{0}.hook_resid_pre", DModel, DSae, Version6: false),
        ["v6 batchtopk threshold"] = new("batchtopk", "blocks.{0}.hook_resid_pre", DModel, DSae, Version6: true),
        ["v6 batchtopk float64 topk_threshold"] = new("batchtopk", "blocks.{0}.hook_resid_pre", DModel, DSae, Version6: true) { ScalarTopKThreshold = true },
        ["v6 transcoder ln2.hook_normalized"] = new("transcoder", "blocks.{0}.ln2.hook_normalized", DModel, DSae, Version6: true) { ApplyBDecToInput = false },
        ["v6 jumprelu_transcoder hook_resid_mid"] = new("jumprelu_transcoder", "blocks.{0}.hook_resid_mid", DModel, DSae, Version6: true) { ApplyBDecToInput = false },
        ["v6 transcoder hook_mlp_in centred"] = new("transcoder", "blocks.{0}.hook_mlp_in", DModel, DSae, Version6: true) { ApplyBDecToInput = false, CenterWritingWeights = true },
        ["v6 constant_norm_rescale hook_resid_pre"] = new("standard", "blocks.{0}.hook_resid_pre", DModel, DSae, Version6: true) { Normalize = "constant_norm_rescale" },
        ["v6 layer_norm hook_mlp_out"] = new("standard", "blocks.{0}.hook_mlp_out", DModel, DSae, Version6: true) { Normalize = "layer_norm" },
        ["v5 layer_norm mlp.hook_post"] = new("standard", "blocks.{0}.mlp.hook_post", DFf, DSae, Version6: false) { Normalize = "layer_norm" },
        ["v5 no b_dec subtraction hook_attn_out"] = new("standard", "blocks.{0}.hook_attn_out", DModel, DSae, Version6: false) { ApplyBDecToInput = false },
        ["v6 centred hook_resid_pre"] = new("standard", "blocks.{0}.hook_resid_pre", DModel, DSae, Version6: true) { CenterWritingWeights = true },
        ["v5 centred hook_mlp_out"] = new("standard", "blocks.{0}.hook_mlp_out", DModel, DSae, Version6: false) { CenterWritingWeights = true },
        ["v6 centring is a no-op on mlp.hook_post"] = new("standard", "blocks.{0}.mlp.hook_post", DFf, DSae, Version6: true) { CenterWritingWeights = true },
        ["v5 finetuning_scaling_factor"] = new("standard", "blocks.{0}.mlp.hook_post", DFf, DSae, Version6: false) { FinetuningScalingFactor = true },
        ["v6 topk layer_norm centred hook_resid_mid"] = new("topk", "blocks.{0}.hook_resid_mid", DModel, DSae, Version6: true) { K = 3, Normalize = "layer_norm", CenterWritingWeights = true },
    };

    public static TheoryData<string> FamilyNames() => new(Families.Keys);

    /// <summary>Writes layers 0 and 1 of <paramref name="spec"/> (hook <c>{0}</c> filled in) under a new folder.</summary>
    private (string Folder, Dictionary<int, (SaeSpec Spec, Dictionary<string, Tensor> Weights)> Layers) WriteFamily(SaeSpec spec, string name)
    {
        var root = Path.Combine(_temp.Path, name.Replace(' ', '_'));
        var layers = new Dictionary<int, (SaeSpec, Dictionary<string, Tensor>)>();
        foreach (var layer in new[] { 0, 1 })
        {
            var layerSpec = spec with { Hook = string.Format(System.Globalization.CultureInfo.InvariantCulture, spec.Hook, layer) };
            layers[layer] = (layerSpec, layerSpec.Write(root, seed: 100 + layer));
        }
        return (root, layers);
    }

    [Theory]
    [MemberData(nameof(FamilyNames))]
    public void EveryFamilyEncodesAndDecodesAsSaeLens(string name)
    {
        var spec = Families[name];
        using var scope = NewDisposeScope();
        var (folder, layers) = WriteFamily(spec, name);

        using var set = AutoencoderLoader.Load("family", folder);

        Assert.Equal([0, 1], set.Layers.Keys.Order());
        Assert.Equal(spec.Architecture, set.Description.Architecture);
        Assert.Equal(spec.Version6 ? "saelens-6" : "saelens-5", set.Description.Format);
        Assert.Equal(spec.Hook.Replace("{0}", "{layer}"), set.Description.InputHook);
        Assert.Equal(spec.IsTranscoder ? AutoencoderInputType.ResidDeltaMlp : null, set.OutputType);
        foreach (var (layer, (layerSpec, weights)) in layers)
        {
            var autoencoder = set.Layers[layer];
            var x = randn([5, spec.DIn], generator: new Generator(7)) + 0.5f;
            var (latents, reconstruction) = layerSpec.Reference(weights, x);

            var encoded = autoencoder.Encode(x).Value;

            TensorAssert.Close(latents, encoded);
            TensorAssert.Close(reconstruction, autoencoder.Decode(encoded, x).Value, atol: 1e-4);
            Assert.True(latents.count_nonzero().item<long>() > 0, "the test input activates some latents");
        }
    }

    [Fact]
    public void InputTypesNodeTypesAndResidualsFollowTheHook()
    {
        (string Hook, AutoencoderInputType Type, NodeType Node, string Residual)[] expected =
        [
            ("blocks.0.mlp.hook_post", AutoencoderInputType.MlpPostAct, NodeType.MlpAutoencoderLatent, "resid.post_attn"),
            ("blocks.0.hook_mlp_out", AutoencoderInputType.ResidDeltaMlp, NodeType.MlpAutoencoderLatent, "resid.post_attn"),
            ("blocks.0.hook_attn_out", AutoencoderInputType.ResidDeltaAttn, NodeType.AttentionAutoencoderLatent, "resid.pre"),
            ("blocks.0.hook_resid_pre", AutoencoderInputType.ResidPre, NodeType.AutoencoderLatent, "resid.pre"),
            ("blocks.0.hook_resid_mid", AutoencoderInputType.ResidPostAttn, NodeType.AutoencoderLatent, "resid.post_attn"),
            ("blocks.0.hook_mlp_in", AutoencoderInputType.ResidPostAttn, NodeType.AutoencoderLatent, "resid.post_attn"),
            ("blocks.0.hook_resid_post", AutoencoderInputType.ResidPostMlp, NodeType.AutoencoderLatent, "resid.post_mlp"),
            ("blocks.0.ln2.hook_normalized", AutoencoderInputType.Ln2Normalized, NodeType.AutoencoderLatent, "resid.post_attn"),
        ];
        foreach (var (hook, type, node, residual) in expected)
        {
            var root = Path.Combine(_temp.Path, hook);
            new SaeSpec("standard", hook, hook.Contains("hook_post") ? DFf : DModel, DSae, Version6: true).Write(root, 1);
            using var set = AutoencoderLoader.Load("a", root);
            Assert.Equal(type, set.InputType);
            Assert.Equal(node, set.NodeType);
            Assert.Equal(residual, set.Residual);
        }

        var transcoderRoot = Path.Combine(_temp.Path, "transcoder");
        new SaeSpec("transcoder", "blocks.0.ln2.hook_normalized", DModel, DSae, Version6: true) { ApplyBDecToInput = false }.Write(transcoderRoot, 1);
        using var transcoders = AutoencoderLoader.Load("t", transcoderRoot);
        Assert.Equal(NodeType.MlpAutoencoderLatent, transcoders.NodeType);
        Assert.Equal("resid.post_attn", transcoders.Residual);
        Assert.Equal("blocks.{layer}.hook_mlp_out", transcoders.Description.OutputHook);
        Assert.True(transcoders.Layers[0].IsTranscoder);
    }

    [Fact]
    public void CenterWritingWeightsCanBeSetWhenTheConfigOmitsIt()
    {
        using var scope = NewDisposeScope();
        var spec = new SaeSpec("standard", "blocks.0.hook_resid_pre", DModel, DSae, Version6: false);
        var weights = spec.Write(_temp.Path, 3);
        var x = randn([4, DModel], generator: new Generator(9)) + 1f;

        using var plain = AutoencoderLoader.Load("plain", _temp.Path);
        using var centred = AutoencoderLoader.Load("centred", _temp.Path, centerWritingWeights: true);

        TensorAssert.Close(spec.Reference(weights, x).Latents, plain.Layers[0].Encode(x).Value);
        TensorAssert.Close((spec with { CenterWritingWeights = true }).Reference(weights, x).Latents, centred.Layers[0].Encode(x).Value);
        Assert.True(centred.Layers[0].Preprocessing.CentreInput);
        Assert.False(plain.Layers[0].Preprocessing.CentreInput);
    }

    [Fact]
    public void EmptyExtraTensorsAndAllOnesScalingFactorAreSkippedAndLogged()
    {
        var spec = new SaeSpec("standard", "blocks.0.hook_resid_pre", DModel, DSae, Version6: true);
        spec.Write(_temp.Path, 4, stored =>
        {
            stored.Add(("empty", zeros(0, DModel)));
            stored.Add(("scaling_factor", ones(DSae)));
        });
        var weightsFile = Path.Combine(_temp.Path, spec.Hook, SaeLensAutoencoderReader.WeightsFile);
        var file = Loading.SafetensorsFixture.Read(weightsFile);
        file.Tensors.Add(new Loading.SafetensorsFixture.Entry("step", "I64", [], BitConverter.GetBytes(1000L)));
        file.Write(weightsFile);
        var log = new List<string>();

        using var set = AutoencoderLoader.Load("a", _temp.Path, log: log.Add);

        Assert.Single(set.Layers);
        Assert.Contains(log, line => line.Contains("'empty'") && line.Contains("no elements"));
        Assert.Contains(log, line => line.Contains("'step'") && line.Contains("0-rank"));
        Assert.Contains(log, line => line.Contains("'scaling_factor'") && line.Contains("all ones"));
    }

    public static TheoryData<string, string> Refusals() => new()
    {
        { "gated architecture", "unsupported architecture 'gated'" },
        { "skip_transcoder architecture", "unsupported architecture 'skip_transcoder'" },
        { "expected_average_only_in", "unsupported normalize_activations 'expected_average_only_in'" },
        { "normalize_activations true", "normalize_activations true" },
        { "unknown normalisation", "unsupported normalize_activations 'batch_norm'" },
        { "unknown model kwarg", "unsupported model_from_pretrained_kwargs.first_n_layers" },
        { "hook_z", "unsupported hook_name 'blocks.0.attn.hook_z'" },
        { "head index", "key 'hook_head_index' is set" },
        { "reshape hook_z", "unsupported reshape_activations 'hook_z'" },
        { "tanh-relu", "unsupported activation_fn 'tanh-relu'" },
        { "topk without k", "needs k" },
        { "hook_layer disagrees", "hook_layer 3 disagrees" },
        { "transcoder subtracting b_dec", "apply_b_dec_to_input is true" },
        { "transcoder reading the residual before the layer", "a transcoder must read the MLP's input" },
        { "transcoder writing elsewhere", "unsupported hook_name_out 'blocks.0.hook_attn_out'" },
        { "jumprelu without threshold", "missing tensor 'threshold'" },
        { "batchtopk without threshold", "batchtopk is served only in its inference form" },
        { "scaling_factor without finetuning", "tensor 'scaling_factor' is not all ones" },
        { "extra tensor", "unexpected tensor 'extra'" },
        { "wrong W_dec shape", "tensor 'W_dec': expected shape [32, 16]" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void UnsupportedConfigurationsAreRefusedByName(string what, string message)
    {
        var standard = new SaeSpec("standard", "blocks.0.hook_resid_pre", DModel, DSae, Version6: true);
        var transcoder = new SaeSpec("transcoder", "blocks.0.ln2.hook_normalized", DModel, DSae, Version6: true) { ApplyBDecToInput = false };
        Action<List<(string Name, Tensor Tensor)>>? edit = null;
        var spec = what switch
        {
            "gated architecture" => standard with { Architecture = "gated" },
            "skip_transcoder architecture" => transcoder with { Architecture = "skip_transcoder" },
            "expected_average_only_in" => standard with { Normalize = "expected_average_only_in" },
            "normalize_activations true" => standard with { Version6 = false, Extra = new JsonObject { ["normalize_activations"] = true } },
            "unknown normalisation" => standard with { Normalize = "batch_norm" },
            "unknown model kwarg" => standard with { ExtraMetadata = new JsonObject { ["model_from_pretrained_kwargs"] = new JsonObject { ["first_n_layers"] = 2 } } },
            "hook_z" => standard with { Hook = "blocks.0.attn.hook_z" },
            "head index" => standard with { ExtraMetadata = new JsonObject { ["hook_head_index"] = 3 } },
            "reshape hook_z" => standard with { Extra = new JsonObject { ["reshape_activations"] = "hook_z" } },
            "tanh-relu" => standard with { Version6 = false, Extra = new JsonObject { ["activation_fn"] = "tanh-relu" } },
            "topk without k" => standard with { Architecture = "topk" },
            "hook_layer disagrees" => standard with { Version6 = false, Extra = new JsonObject { ["hook_layer"] = 3 } },
            "transcoder subtracting b_dec" => transcoder with { ApplyBDecToInput = true },
            "transcoder reading the residual before the layer" => transcoder with { Hook = "blocks.0.hook_resid_pre" },
            "transcoder writing elsewhere" => transcoder with { ExtraMetadata = new JsonObject { ["hook_name_out"] = "blocks.0.hook_attn_out" } },
            "jumprelu without threshold" => standard with { Architecture = "jumprelu" },
            "batchtopk without threshold" => standard with { Architecture = "batchtopk" },
            _ => standard,
        };
        edit = what switch
        {
            "jumprelu without threshold" or "batchtopk without threshold" => stored => stored.RemoveAll(t => t.Name == "threshold"),
            "scaling_factor without finetuning" => stored => stored.Add(("scaling_factor", ones(DSae) * 2f)),
            "extra tensor" => stored => stored.Add(("extra", ones(3))),
            "wrong W_dec shape" => stored => stored[stored.FindIndex(t => t.Name == "W_dec")] = ("W_dec", zeros(DSae, DModel + 1)),
            _ => null,
        };
        spec.Write(_temp.Path, 5, edit);

        var error = Assert.Throws<WeightLoadException>(() => AutoencoderLoader.Load("bad", _temp.Path));

        Assert.Contains(message, error.Message);
        Assert.StartsWith(Path.Combine(_temp.Path, spec.Hook), error.Path);
    }

    [Fact]
    public void LayersOfDifferentArchitecturesAreRefused()
    {
        new SaeSpec("standard", "blocks.0.hook_resid_pre", DModel, DSae, Version6: true).Write(_temp.Path, 1);
        new SaeSpec("jumprelu", "blocks.1.hook_resid_pre", DModel, DSae, Version6: true).Write(_temp.Path, 2);

        var error = Assert.Throws<WeightLoadException>(() => AutoencoderLoader.Load("mixed", _temp.Path));

        Assert.Contains("inconsistent layers", error.Message);
    }
}
