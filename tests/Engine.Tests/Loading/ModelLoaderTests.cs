using System.Text.Json;
using ReconService.Engine.Loading;

namespace ReconService.Engine.Tests.Loading;

public class ModelLoaderTests
{
    [SkippableFact]
    public void HuggingFaceAndTdbLayoutsOfTheGoldenModelGiveIdenticalParameters()
    {
        using var hf = ModelLoader.Load(TestPaths.Golden("model"));
        using var tdb = ModelLoader.Load(TestPaths.Golden("model_tdb"));

        Assert.Equal(tdb.Config, hf.Config);
        Assert.Equal(tdb.Parameters.Keys.Order(), hf.Parameters.Keys.Order());
        foreach (var (name, tensor) in tdb.Parameters)
        {
            TensorAssert.Identical(tensor, hf.Parameters[name], name);
        }
    }

    [SkippableFact]
    public void GoldenModelSizesAndShapesFollowItsConfig()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(TestPaths.Golden("model", "config.json")));
        var root = config.RootElement;
        int d = root.GetProperty("n_embd").GetInt32(), layers = root.GetProperty("n_layer").GetInt32();
        int vocab = root.GetProperty("vocab_size").GetInt32(), ctx = root.GetProperty("n_positions").GetInt32();

        using var model = ModelLoader.Load(TestPaths.Golden("model_tdb"));

        Assert.Equal(d, model.Config.DModel);
        Assert.Equal(layers, model.Config.NLayers);
        Assert.Equal(root.GetProperty("n_head").GetInt32(), model.Config.NHeads);
        Assert.Equal(vocab, model.Config.NVocab);
        Assert.Equal(ctx, model.Config.NCtx);
        Assert.Equal(2 + layers * 16 + 3, model.Parameters.Count);
        Assert.Equal([vocab, d], model.Parameters["tok_embed.weight"].shape);
        Assert.Equal([4L * d, d], model.Parameters[$"xf_layers.{layers - 1}.mlp.in_layer.weight"].shape);
        Assert.Equal([d, 4L * d], model.Parameters["xf_layers.0.mlp.out_layer.weight"].shape);
        Assert.Equal([(long)d, d], model.Parameters["xf_layers.0.attn.v_proj.weight"].shape);
    }
}
