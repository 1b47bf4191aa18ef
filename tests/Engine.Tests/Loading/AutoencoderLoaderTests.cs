using System.Text.Json;
using ReconService.Engine.Loading;
using ReconService.Models;

namespace ReconService.Engine.Tests.Loading;

public class AutoencoderLoaderTests
{
    public static TheoryData<string> GoldenAutoencoderFolders()
    {
        var data = new TheoryData<string>();
        if (!TestPaths.GoldenAvailable) data.Add("golden set absent"); // one row, which skips with the reason
        else foreach (var dir in Directory.GetDirectories(TestPaths.Golden("sae")).Order()) data.Add(Path.GetFileName(dir));
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(GoldenAutoencoderFolders))]
    public void GoldenAutoencodersLoadIdenticallyFromBothLayouts(string folder)
    {
        using var info = JsonDocument.Parse(File.ReadAllText(TestPaths.Golden("sae", folder, "info.json")));
        var root = info.RootElement;
        var expectedType = AutoencoderInputTypes.Parse(root.GetProperty("dst").GetString()!);
        var expectedActivation = Enum.Parse<AutoencoderActivation>(root.GetProperty("activation").GetString()!);
        int? expectedK = root.GetProperty("k").ValueKind == JsonValueKind.Null ? null : root.GetProperty("k").GetInt32();
        using var model = ModelLoader.Load(TestPaths.Golden("model"));

        using var openAi = AutoencoderLoader.Load(folder, TestPaths.Golden("sae", folder, "autoencoders"));
        using var saeLens = AutoencoderLoader.Load(folder, TestPaths.Golden("sae", folder, "saelens"));

        Assert.Equal(expectedType, openAi.InputType);
        Assert.Equal(expectedType, saeLens.InputType);
        Assert.Equal(Enumerable.Range(0, model.Config.NLayers), openAi.Layers.Keys.Order());
        Assert.Equal(openAi.Layers.Keys.Order(), saeLens.Layers.Keys.Order());
        foreach (var (layer, a) in openAi.Layers)
        {
            var b = saeLens.Layers[layer];
            Assert.Equal(root.GetProperty("n_inputs").GetInt32(), a.NInputs);
            Assert.Equal(root.GetProperty("n_latents").GetInt32(), a.NLatents);
            Assert.Equal(expectedType == AutoencoderInputType.MlpPostAct ? model.Config.DFf : model.Config.DModel, a.NInputs);
            Assert.Equal(expectedActivation, a.Activation);
            Assert.Equal(expectedActivation, b.Activation);
            Assert.Equal(expectedK, a.K);
            Assert.Equal(expectedK, b.K);
            Assert.Equal(a.PostActivation, b.PostActivation);
            TensorAssert.Identical(a.PreBias, b.PreBias, $"{folder} layer {layer} pre_bias");
            TensorAssert.Identical(a.EncoderWeight, b.EncoderWeight, $"{folder} layer {layer} encoder.weight");
            TensorAssert.Identical(a.LatentBias, b.LatentBias, $"{folder} layer {layer} latent_bias");
            TensorAssert.Identical(a.DecoderWeight, b.DecoderWeight, $"{folder} layer {layer} decoder.weight");
        }
    }

    [SkippableFact]
    public void LayoutFolderIsFoundBelowTheReleaseFolder()
    {
        var folder = Path.GetFileName(Directory.GetDirectories(TestPaths.Golden("sae")).Order().First());
        using var direct = AutoencoderLoader.Load("a", TestPaths.Golden("sae", folder, "saelens"));
        using var temp = new TempFolder();
        var release = temp.CopyFolder(TestPaths.Golden("sae", folder), folder);
        Directory.Delete(Path.Combine(release, "autoencoders"), recursive: true);

        using var viaRelease = AutoencoderLoader.Load("a", release);

        Assert.Equal(direct.InputType, viaRelease.InputType);
        foreach (var (layer, a) in direct.Layers)
            TensorAssert.Identical(a.EncoderWeight, viaRelease.Layers[layer].EncoderWeight, $"layer {layer} encoder.weight");
    }

    [SkippableFact]
    public void OpenAiLayoutTakesTheExplicitInputTypeWhenThePathNamesNoRelease()
    {
        using var temp = new TempFolder();
        var folder = temp.CopyFolder(TestPaths.Golden("sae", "resid_delta_attn", "autoencoders"), "my_saes");

        using var set = AutoencoderLoader.Load("mine", folder, AutoencoderInputType.ResidDeltaAttn);

        Assert.Equal(AutoencoderInputType.ResidDeltaAttn, set.InputType);
        Assert.Equal(NodeType.AttentionAutoencoderLatent, set.NodeType);
        Assert.Equal("mine", set.Name);
        Assert.NotEmpty(set.Layers);
    }

    [SkippableFact]
    public void OpenAiLayoutWithoutReleaseNameOrInputTypeAsksForTheSetting()
    {
        using var temp = new TempFolder();
        var folder = temp.CopyFolder(TestPaths.Golden("sae", "mlp_post_act", "autoencoders"), "my_saes");

        var error = Assert.Throws<WeightLoadException>(() => AutoencoderLoader.Load("mine", folder));

        Assert.Equal(folder, error.Path);
        Assert.Contains("Autoencoders:mine:InputType", error.Message);
    }

    [SkippableTheory]
    [InlineData("mlp.post_act", AutoencoderInputType.MlpPostAct)]
    [InlineData("mlp_post_act", AutoencoderInputType.MlpPostAct)]
    [InlineData("resid.delta_mlp", AutoencoderInputType.ResidDeltaMlp)]
    [InlineData("resid_delta_mlp", AutoencoderInputType.ResidDeltaMlp)]
    [InlineData("resid.delta_attn", AutoencoderInputType.ResidDeltaAttn)]
    [InlineData("resid_delta_attn", AutoencoderInputType.ResidDeltaAttn)]
    public void InputTypeParsesLocationAndReleaseSpellings(string text, AutoencoderInputType expected) =>
        Assert.Equal(expected, AutoencoderInputTypes.Parse(text));

    [SkippableTheory]
    [InlineData("mlp.pre_act")]
    [InlineData("MLP_POST_ACT")]
    [InlineData("")]
    public void InputTypeRejectsOtherSpellings(string text)
    {
        var error = Assert.Throws<ArgumentException>(() => AutoencoderInputTypes.Parse(text));
        Assert.Contains($"'{text}'", error.Message);
    }
}
