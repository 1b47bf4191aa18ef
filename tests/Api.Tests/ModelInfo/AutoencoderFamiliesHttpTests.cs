using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.ModelInfo;

/// <summary>
/// <c>GET /v1/model</c> describes residual-stream autoencoders and transcoders (made here by rewriting the golden SAELens
/// <c>resid_delta_mlp</c> configs), and latent requests reach them.
/// </summary>
public sealed class AutoencoderFamiliesHttpTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "recon-families-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    /// <summary>The golden <c>resid_delta_mlp</c> SAELens folder copied, each layer's <c>cfg.json</c> rewritten by <paramref name="edit"/>.</summary>
    private string Family(string name, Action<JsonObject, int> edit)
    {
        var source = Path.Combine(RepoPaths.GoldenDir, "sae", "resid_delta_mlp", "saelens");
        var target = Path.Combine(_root, name);
        foreach (var dir in Directory.GetDirectories(source))
        {
            var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "cfg.json")))!.AsObject();
            var layer = cfg["hook_layer"]!.GetValue<int>();
            edit(cfg, layer);
            var folder = Path.Combine(target, $"layer{layer}");
            Directory.CreateDirectory(folder);
            File.Copy(Path.Combine(dir, "sae_weights.safetensors"), Path.Combine(folder, "sae_weights.safetensors"));
            File.WriteAllText(Path.Combine(folder, "cfg.json"), cfg.ToJsonString());
        }
        return target;
    }

    [Fact]
    public async Task ModelInfoDescribesResidualAutoencodersAndTranscodersAndRequestsReachThem()
    {
        var residual = Family("res", (cfg, layer) =>
        {
            cfg["hook_name"] = $"blocks.{layer}.hook_resid_pre";
            cfg["normalize_activations"] = "layer_norm";
            cfg["model_from_pretrained_kwargs"] = new JsonObject { ["center_writing_weights"] = true };
        });
        var transcoder = Family("tc", (cfg, layer) =>
        {
            cfg["architecture"] = "transcoder";
            cfg["hook_name"] = $"blocks.{layer}.ln2.hook_normalized";
            cfg["hook_name_out"] = $"blocks.{layer}.hook_mlp_out";
            cfg["d_out"] = cfg["d_in"]!.GetValue<int>();
            cfg["apply_b_dec_to_input"] = false;
        });
        using var factory = new ServiceFactory(new Dictionary<string, string?>
        {
            ["Model:Path"] = Path.Combine(RepoPaths.GoldenDir, "model"),
            ["Autoencoders:res:Path"] = residual,
            ["Autoencoders:tc:Path"] = transcoder,
        });
        var client = await factory.ReadyClientAsync();

        var info = await (await client.GetAsync("/v1/model")).OkJsonAsync();

        Assert.Equal("gelu_new", info.GetProperty("config").GetProperty("activationFunction").GetString());
        var byName = info.GetProperty("autoencoders").EnumerateArray().ToDictionary(a => a.GetProperty("name").GetString()!);
        var res = byName["res"];
        Assert.Equal("resid.pre", res.GetProperty("inputType").GetString());
        Assert.Equal("autoencoder_latent", res.GetProperty("nodeType").GetString());
        Assert.Equal("resid.pre", res.GetProperty("residual").GetString());
        Assert.Equal("blocks.{layer}.hook_resid_pre", res.GetProperty("inputHook").GetString());
        Assert.Equal("standard", res.GetProperty("architecture").GetString());
        Assert.Equal("saelens-5", res.GetProperty("format").GetString());
        Assert.False(res.TryGetProperty("outputType", out _));
        var preprocessing = res.GetProperty("preprocessing");
        Assert.True(preprocessing.GetProperty("centerInput").GetBoolean());
        Assert.Equal("layer_norm", preprocessing.GetProperty("normalize").GetString());
        Assert.True(preprocessing.GetProperty("subtractDecoderBias").GetBoolean());
        var tc = byName["tc"];
        Assert.Equal("ln_2.normalized", tc.GetProperty("inputType").GetString());
        Assert.Equal("mlp_autoencoder_latent", tc.GetProperty("nodeType").GetString());
        Assert.Equal("resid.post_attn", tc.GetProperty("residual").GetString());
        Assert.Equal("resid.delta_mlp", tc.GetProperty("outputType").GetString());
        Assert.Equal("blocks.{layer}.hook_mlp_out", tc.GetProperty("outputHook").GetString());
        Assert.False(tc.GetProperty("preprocessing").GetProperty("subtractDecoderBias").GetBoolean());

        var dModel = info.GetProperty("config").GetProperty("dModel").GetInt32();
        var nLatents = res.GetProperty("nLatents").GetInt32();
        foreach (var (name, nodeType) in new[] { ("res", "autoencoder_latent"), ("tc", "mlp_autoencoder_latent") })
        {
            var answer = await (await client.PostJsonAsync("/v1/activations", new JsonObject
            {
                ["residual"] = Wire.Tensor([3, dModel], Enumerable.Range(0, 3 * dModel).Select(i => MathF.Sin(i)).ToArray()),
                ["layerIndex"] = 0, ["nodeType"] = nodeType, ["preOrPostAct"] = "post", ["autoencoder"] = name,
            })).OkJsonAsync();
            Assert.Equal([3L, nLatents], Wire.ReadTensor(answer.GetProperty("activations")).Shape);
        }
    }
}
