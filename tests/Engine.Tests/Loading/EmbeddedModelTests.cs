using ReconService.Engine.Loading;
using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine.Tests.Loading;

public class EmbeddedModelTests
{
    // The repository's own copy (what the service serves by default), not the one in ../shared.
    private static readonly string Folder = Path.Combine(TestPaths.RepoRoot, "models", "kjv-gpt2-tiny");

    [Fact]
    public void Float16EmbeddedModelLoadsAsFloat32WithItsConfig()
    {
        using var model = ModelLoader.Load(Path.Combine(Folder, "model"));
        var raw = SafetensorsFixture.Read(Path.Combine(Folder, "model", "model.safetensors"));
        var d = model.Config.DModel;

        Assert.Equal(4, model.Config.NLayers);
        Assert.Equal(128, d);
        Assert.Equal("F16", raw["wte.weight"].DType);
        Assert.All(model.Parameters.Values, t => Assert.Equal(torch.ScalarType.Float32, t.dtype));
        Assert.Equal(raw.Floats("wte.weight"), model.Parameters["tok_embed.weight"].data<float>().ToArray());
        Assert.Equal(raw.Floats("wte.weight"), model.Parameters["unembed.weight"].data<float>().ToArray());

        // Conv1D c_attn [d, 3d]: q/k/v weights are its column blocks, transposed.
        var cAttn = raw.Floats("h.1.attn.c_attn.weight");
        var k = model.Parameters["xf_layers.1.attn.k_proj.weight"].data<float>().ToArray();
        for (var output = 0; output < d; output += 7)
            for (var input = 0; input < d; input += 5)
                Assert.Equal(cAttn[input * 3 * d + d + output], k[output * d + input]);
        var cFc = raw.Floats("h.3.mlp.c_fc.weight");
        var inLayer = model.Parameters["xf_layers.3.mlp.in_layer.weight"].data<float>().ToArray();
        Assert.Equal(cFc[5 * 4 * d + 300], inLayer[300 * d + 5]);
    }

    [Fact]
    public void EmbeddedSaeLensAutoencodersLoadForEveryLayer()
    {
        using var model = ModelLoader.Load(Path.Combine(Folder, "model"));
        var saelens = Path.Combine(Folder, "sae", "mlp_post_act", "saelens");

        using var set = AutoencoderLoader.Load("kjv", saelens);

        Assert.Equal(AutoencoderInputType.MlpPostAct, set.InputType);
        Assert.Equal(Enumerable.Range(0, model.Config.NLayers), set.Layers.Keys.Order());
        var raw = SafetensorsFixture.Read(Path.Combine(saelens, "blocks.2.mlp.hook_post", "sae_weights.safetensors"));
        var ae = set.Layers[2];
        Assert.Equal(model.Config.DFf, ae.NInputs);
        Assert.Equal(AutoencoderActivation.ReLU, ae.Activation);
        Assert.Equal(torch.ScalarType.Float32, ae.EncoderWeight.dtype);
        Assert.Equal(raw.Floats("b_dec"), ae.PreBias.data<float>().ToArray());
        Assert.Equal(raw.Floats("b_enc"), ae.LatentBias.data<float>().ToArray());
        var wEnc = raw.Floats("W_enc"); // [d_in, d_sae]
        var encoder = ae.EncoderWeight.data<float>().ToArray(); // [d_sae, d_in]
        Assert.Equal(wEnc[17 * ae.NLatents + 1000], encoder[1000 * ae.NInputs + 17]);
    }
}
