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
        return ReconService.Tests.Shared.SaeLensFamilyCopy.Copy(source, Path.Combine(_root, name), edit);
    }

    /// <summary>The golden model with a residual-stream family <c>res</c> (<c>hook_resid_pre</c>) and a transcoder (<paramref name="transcoderName"/>).</summary>
    private ServiceFactory Service(string transcoderName = "tc")
    {
        Skip.IfNot(Directory.Exists(Path.Combine(RepoPaths.GoldenDir, "sae", "resid_delta_mlp", "saelens")),
            $"the golden set is not at {RepoPaths.GoldenDir} (../shared/golden beside the repository, or RECON_GOLDEN_DIR)");
        var residual = Family("res", (cfg, layer) =>
        {
            cfg["hook_name"] = $"blocks.{layer}.hook_resid_pre";
            cfg["normalize_activations"] = "layer_norm";
            cfg["model_from_pretrained_kwargs"] = new JsonObject { ["center_writing_weights"] = true };
        });
        var transcoder = Family(transcoderName, (cfg, layer) =>
        {
            cfg["architecture"] = "transcoder";
            cfg["hook_name"] = $"blocks.{layer}.ln2.hook_normalized";
            cfg["hook_name_out"] = $"blocks.{layer}.hook_mlp_out";
            cfg["d_out"] = cfg["d_in"]!.GetValue<int>();
            cfg["apply_b_dec_to_input"] = false;
        });
        return new ServiceFactory(new Dictionary<string, string?>
        {
            ["Model:Path"] = Path.Combine(RepoPaths.GoldenDir, "model"),
            ["Autoencoders:res:Path"] = residual,
            [$"Autoencoders:{transcoderName}:Path"] = transcoder,
        });
    }

    [SkippableFact]
    public async Task ModelInfoDescribesResidualAutoencodersAndTranscodersAndRequestsReachThem()
    {
        using var factory = Service();
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

    [SkippableFact]
    public async Task AttributionSplicesResidualStreamFamiliesAndTranscodersWithTheirLatentsAndErrorsAsNodes()
    {
        using var factory = Service();
        var client = await factory.ReadyClientAsync();
        JsonObject Request(params string[] autoencoders) => new()
        {
            ["tokens"] = new JsonArray(1, 2, 3, 5), ["loss"] = new JsonObject { ["name"] = "probs", ["targetTokens"] = new JsonArray(4) },
            ["autoencoders"] = new JsonArray([.. autoencoders.Select(a => (JsonNode)a)]), ["topK"] = 20,
        };
        var plain = await (await client.PostJsonAsync("/v1/attribution", Request())).OkJsonAsync();
        var spliced = await (await client.PostJsonAsync("/v1/attribution", Request("res", "tc"))).OkJsonAsync();
        Assert.Equal(plain.GetProperty("loss").GetDouble(), spliced.GetProperty("loss").GetDouble(), 5);
        var rows = spliced.GetProperty("nodeTable").EnumerateArray()
            .Select(r => (Type: r.GetProperty("nodeType").GetString(), Ae: r.TryGetProperty("autoencoder", out var a) ? a.GetString() : null)).ToList();
        foreach (var (type, ae) in new[] { ("autoencoder_latent", "res"), ("autoencoder_error", "res"), ("mlp_autoencoder_latent", "tc"), ("mlp_autoencoder_error", "tc") })
            Assert.Contains((type, ae), rows);
        Assert.DoesNotContain(rows, r => r.Type == "mlp_neuron"); // the transcoder stands in for the MLP at every layer
        Assert.True(spliced.GetProperty("sums").GetProperty("activation").TryGetProperty("online_autoencoder_latent", out _));
    }

    [SkippableFact]
    public async Task AttributionRefusesAnSaeOnTheNormalisedMlpInputNamingTheFamily()
    {
        Skip.IfNot(Directory.Exists(Path.Combine(RepoPaths.GoldenDir, "sae", "resid_delta_mlp", "saelens")),
            $"the golden set is not at {RepoPaths.GoldenDir} (../shared/golden beside the repository, or RECON_GOLDEN_DIR)");
        var folder = Family("ln2", (cfg, layer) => cfg["hook_name"] = $"blocks.{layer}.ln2.hook_normalized");
        using var only = new ServiceFactory(new Dictionary<string, string?>
        {
            ["Model:Path"] = Path.Combine(RepoPaths.GoldenDir, "model"),
            ["Autoencoders:ln2:Path"] = folder,
        });
        var other = await only.ReadyClientAsync();
        using var response = await other.PostJsonAsync("/v1/attribution", new JsonObject
        {
            ["tokens"] = new JsonArray(1, 2, 3), ["loss"] = new JsonObject { ["name"] = "probs", ["targetTokens"] = new JsonArray(4) },
            ["autoencoders"] = new JsonArray("ln2"),
        });
        var problem = await response.AssertProblemAsync(System.Net.HttpStatusCode.UnprocessableEntity, "autoencoders[0]");
        Assert.Contains("ln_2.normalized", problem.GetProperty("detail").GetString());
    }

    [SkippableFact]
    public async Task OpenApiExamplesSendEachFamilyTheResidualItReadsAndSucceed()
    {
        using var factory = Service("a_tc"); // the transcoder first: encode's example (one family, named by the route) is its ln_2.normalized
        var client = await factory.ReadyClientAsync();
        var (sent, withoutExample) = await OpenApiExamples.SendEveryExampleAsync(client);
        Assert.Empty(withoutExample);
        Assert.True(sent >= 13, $"only {sent} examples were sent");

        var info = await (await client.GetAsync("/v1/model")).OkJsonAsync();
        var layers = info.GetProperty("autoencoders").EnumerateArray()
            .ToDictionary(a => a.GetProperty("name").GetString()!, a => a.GetProperty("layers")[0].GetInt32());
        // The golden model's vocabulary is smaller than GPT-2's: the examples fold the prompt's ids into it.
        var nVocab = info.GetProperty("config").GetProperty("nVocab").GetInt32();
        var tokenized = await (await client.PostJsonAsync("/v1/tokenize", new JsonObject { ["text"] = ReconService.Api.OpenApi.RequestExamples.Prompt })).OkJsonAsync();
        var forward = await (await client.PostJsonAsync("/v1/forward", new JsonObject
        {
            ["tokens"] = new JsonArray(tokenized.GetProperty("tokens").EnumerateArray().Select(t => (JsonNode)(t.GetInt32() % nVocab)).ToArray()),
            ["capture"] = new JsonArray("resid.post_emb", "resid.post_attn", "resid.post_mlp"),
        })).OkJsonAsync();
        float[] Captured(string location, int? layer) => Wire.ReadTensor(forward.GetProperty("captured").EnumerateArray()
            .Single(c => c.GetProperty("location").GetString() == location &&
                         (c.TryGetProperty("layer", out var l) ? l.GetInt32() : (int?)null) == layer).GetProperty("tensor")).Values;
        float[] ResidPre(int layer) => layer == 0 ? Captured("resid.post_emb", null) : Captured("resid.post_mlp", layer - 1);
        JsonElement Body(JsonNode example) => JsonDocument.Parse(example["value"]!.ToJsonString()).RootElement;

        var posts = (await OpenApiExamples.PostsAsync(client)).ToDictionary(p => p.Path, p => OpenApiExamples.Examples(p.Operation));
        var activations = posts["/v1/activations"];
        Close(ResidPre(layers["res"]), Wire.ReadTensor(Body(activations["autoencoderLatent-res"]!).GetProperty("residual")).Values);
        Close(Captured("resid.post_attn", layers["a_tc"]), Wire.ReadTensor(Body(activations["autoencoderLatent-a_tc"]!).GetProperty("residual")).Values);

        // The transcoder's encode example (its ln_2.normalized) gives the latents reconstituted from resid.post_attn.
        var encode = await (await client.PostRawAsync("/v1/autoencoders/a_tc/encode", posts["/v1/autoencoders/{name}/encode"]["a_tc"]!["value"]!.ToJsonString())).OkJsonAsync();
        var latents = await (await client.PostRawAsync("/v1/activations", activations["autoencoderLatent-a_tc"]!["value"]!.ToJsonString())).OkJsonAsync();
        var (encodedShape, encoded) = Wire.ReadTensor(encode.GetProperty("latents"));
        var (shape, reconstituted) = Wire.ReadTensor(latents.GetProperty("activations"));
        Assert.Equal(shape, encodedShape);
        Assert.Contains(reconstituted, v => v > 0);
        Close(reconstituted, encoded);
    }

    /// <summary>Equal lengths and values within 1e-4 absolute plus relative (the same forward pass run with other captures).</summary>
    private static void Close(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * (1 + Math.Abs(expected[i])), $"value {i}: expected {expected[i]}, got {actual[i]}");
    }
}
