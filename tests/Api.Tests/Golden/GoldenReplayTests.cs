using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Golden;

/// <summary>
/// Every golden case sent over HTTP to the service configured with the golden model and autoencoders,
/// compared with the reference's output at |a - e| &lt;= 1e-5 + 1e-4 |e|, -inf where the reference has -inf.
/// </summary>
public sealed class GoldenReplayTests(GoldenReplayTests.Service service) : IClassFixture<GoldenReplayTests.Service>
{
    /// <summary>One service for all cases, autoencoders in the OpenAI/TDB layout.</summary>
    public sealed class Service : GoldenService
    {
        public Service() : base("autoencoders") { }
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public Task GoldenCaseMatchesReference(string id, string kind) => GoldenReplay.RunAsync(service.Client, id, kind);

    public static TheoryData<string, string> Cases() => GoldenCases.All();
}

/// <summary>The golden cases that involve an autoencoder, with the autoencoders loaded from their SAELens layout.</summary>
public sealed class GoldenSaeLensReplayTests(GoldenSaeLensReplayTests.Service service) : IClassFixture<GoldenSaeLensReplayTests.Service>
{
    /// <summary>One service for all cases, autoencoders in the SAELens layout.</summary>
    public sealed class Service : GoldenService
    {
        public Service() : base("saelens") { }
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public Task GoldenAutoencoderCaseMatchesReferenceWithSaeLensWeights(string id, string kind) => GoldenReplay.RunAsync(service.Client, id, kind);

    public static TheoryData<string, string> Cases() => GoldenCases.All(c =>
        c.GetProperty("params").TryGetProperty("autoencoder", out var ae) && ae.ValueKind == JsonValueKind.String);
}

/// <summary>A service on the golden folder, started once per test class.</summary>
public abstract class GoldenService(string layout) : IAsyncLifetime
{
    public GoldenFactory Factory { get; } = new(layout);
    public HttpClient Client { get; private set; } = null!;
    public async Task InitializeAsync()
    {
        if (GoldenCases.Available) Client = await Factory.ReadyClientAsync();
    }

    public Task DisposeAsync()
    {
        Factory.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>Sends one golden case over HTTP and compares the answer with the reference.</summary>
public static class GoldenReplay
{
    public static async Task RunAsync(HttpClient client, string id, string kind)
    {
        GoldenCases.SkipUnlessAvailable();
        var golden = GoldenCases.Load();
        var c = golden.Cases[id];
        var p = c.GetProperty("params");
        var input = golden.Tensors[c.GetProperty("resid").GetString()!];
        var expected = golden.Tensors[c.GetProperty("expected").GetString()!];
        var tensor = Wire.Tensor(input.Shape, input.Bytes);

        (string Path, JsonObject Body, string Field) request = kind switch
        {
            "activation" => ("/v1/activations", Activation(p, tensor), "activations"),
            "gradient" => ("/v1/gradients", With(Activation(p, tensor), "tensorIndices", new JsonArray(c.GetProperty("tensor_indices").EnumerateArray().Select(i => (JsonNode)i.GetInt64()).ToArray())), "gradient"),
            "jvp" => ("/v1/jvp", With(Activation(p, tensor), "writeVector", Stored(golden, c.GetProperty("write_vector").GetString()!)), "jvp"),
            "resid_delta_attn" => ("/v1/resid-deltas/attn", Block(p, tensor), "residDelta"),
            "resid_delta_mlp" => ("/v1/resid-deltas/mlp", Block(p, tensor), "residDelta"),
            "attn_and_v" => ("/v1/attention-values", Block(p, tensor), "values"),
            "logits" => ("/v1/logits", new JsonObject { ["residual"] = tensor, ["detachLayerNormScale"] = p.GetProperty("detach_layer_norm_scale").GetBoolean() }, "logits"),
            "logprobs" => ("/v1/logprobs", new JsonObject { ["residual"] = tensor, ["detachLayerNormScale"] = p.GetProperty("detach_layer_norm_scale").GetBoolean() }, "logprobs"),
            "apply_autoencoder" => ($"/v1/autoencoders/{p.GetProperty("autoencoder").GetString()}/encode",
                new JsonObject { ["activations"] = tensor, ["layerIndex"] = p.GetProperty("layer_index").GetInt32() }, "latents"),
            "write_latent_gradient" => ($"/v1/autoencoders/{p.GetProperty("autoencoder").GetString()}/latent-gradient",
                new JsonObject { ["activations"] = tensor, ["layerIndex"] = p.GetProperty("layer_index").GetInt32(), ["latentIndex"] = p.GetProperty("latent_index").GetInt32() }, "gradient"),
            _ => throw new InvalidOperationException($"unknown golden kind {kind}"),
        };

        using var response = await client.PostJsonAsync(request.Path, request.Body);
        var json = await response.OkJsonAsync();
        AssertClose(expected, json.GetProperty(request.Field), $"{id} ({kind}) {request.Field}");
        if (kind == "attn_and_v")
            AssertClose(golden.Tensors[c.GetProperty("attn_expected").GetString()!], json.GetProperty("attention"), $"{id} ({kind}) attention");
    }

    private static JsonObject Activation(JsonElement p, JsonObject residual)
    {
        var body = new JsonObject
        {
            ["residual"] = residual,
            ["layerIndex"] = p.GetProperty("layer_index").GetInt32(),
            ["nodeType"] = p.GetProperty("node_type").GetString(),
            ["preOrPostAct"] = p.GetProperty("pre_or_post_act").GetString(),
            ["detachLayerNormScale"] = p.GetProperty("detach_layer_norm_scale").GetBoolean(),
        };
        if (p.TryGetProperty("attention_trace_type", out var trace) && trace.ValueKind == JsonValueKind.String) body["attentionTraceType"] = trace.GetString();
        if (p.TryGetProperty("autoencoder", out var ae) && ae.ValueKind == JsonValueKind.String) body["autoencoder"] = ae.GetString();
        return body;
    }

    private static JsonObject Block(JsonElement p, JsonObject residual) => new()
    {
        ["residual"] = residual,
        ["layerIndex"] = p.GetProperty("layer_index").GetInt32(),
        ["detachLayerNormScale"] = p.GetProperty("detach_layer_norm_scale").GetBoolean(),
    };

    private static JsonObject With(JsonObject body, string name, JsonNode value)
    {
        body[name] = value;
        return body;
    }

    private static JsonObject Stored(GoldenCases golden, string name)
    {
        var t = golden.Tensors[name];
        return Wire.Tensor(t.Shape, t.Bytes);
    }

    private static void AssertClose(StoredTensor expected, JsonElement payload, string what)
    {
        var (shape, actual) = Wire.ReadTensor(payload);
        Assert.True(expected.Shape.SequenceEqual(shape), $"{what}: shape [{string.Join(", ", shape)}], expected [{string.Join(", ", expected.Shape)}]");
        var e = expected.Floats();
        var failures = 0;
        var first = "";
        for (var i = 0; i < e.Length; i++)
        {
            bool ok = float.IsNegativeInfinity(e[i]) ? float.IsNegativeInfinity(actual[i])
                : float.IsFinite(actual[i]) && Math.Abs(actual[i] - e[i]) <= 1e-5 + 1e-4 * Math.Abs(e[i]);
            if (ok) continue;
            if (failures++ == 0) first = $"element {i}: got {actual[i]}, expected {e[i]}";
        }
        Assert.True(failures == 0, $"{what}: {failures} of {e.Length} elements out of tolerance; first at {first}");
    }
}
