using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc.Testing;
using ReconService.Api.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ReconService.Api.Tests.Http;

/// <summary>
/// Thousands of malformed and hostile requests from a fixed seed against the service on real Kestrel (loopback):
/// none may answer 5xx, and the service must be healthy and correct afterwards.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int Seed = 20_240_607;
    private const int Requests = 2_400;
    private const int DModel = 128, NLayers = 4, NCtx = 128, NLatents = 512;

    private static readonly string[] ResidualEndpoints =
    [
        "/v1/activations", "/v1/gradients", "/v1/jvp", "/v1/resid-deltas/attn", "/v1/resid-deltas/mlp",
        "/v1/attention-values", "/v1/logits", "/v1/logprobs",
    ];

    private static readonly string[] AllEndpoints =
    [
        .. ResidualEndpoints, "/v1/forward", "/v1/tokenize",
        "/v1/autoencoders/mlp_post_act/encode", "/v1/autoencoders/mlp_post_act/latent-gradient",
    ];

    [Fact]
    public async Task ThousandsOfHostileRequestsGetNo5xxAndTheServiceStaysHealthy()
    {
        using var factory = new ServiceFactory(new Dictionary<string, string?>
        {
            ["Limits:MaxRequestBodyBytes"] = "1048576",
            ["Queue:Length"] = "256",
        });
        factory.UseKestrel(0);
        factory.StartServer();
        using var client = await factory.ReadyClientAsync();
        Assert.Equal("127.0.0.1", client.BaseAddress!.Host is "localhost" ? "127.0.0.1" : client.BaseAddress.Host);

        var random = new Random(Seed);
        var cases = Enumerable.Range(0, Requests).Select(i => Generate(random, i)).ToList();
        var histogram = new SortedDictionary<int, int>();
        var byKind = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<string>();
        using var gate = new SemaphoreSlim(4);
        await Task.WhenAll(cases.Select(async fuzz =>
        {
            await gate.WaitAsync();
            try
            {
                using var request = fuzz.ToRequest();
                int status;
                string body;
                try
                {
                    using var response = await client.SendAsync(request);
                    status = (int)response.StatusCode;
                    body = await response.Content.ReadAsStringAsync();
                }
                catch (HttpRequestException) when (fuzz.Kind == "oversized-body")
                {
                    // Kestrel answers 413 and closes the connection while the client is still sending.
                    (status, body) = (413, "");
                }
                lock (histogram)
                {
                    histogram[status] = histogram.GetValueOrDefault(status) + 1;
                    byKind[fuzz.Kind] = byKind.GetValueOrDefault(fuzz.Kind) + 1;
                    if (status >= 500 || body.Contains("   at ", StringComparison.Ordinal))
                        failures.Add($"{fuzz.Kind} {fuzz.Method} {fuzz.Path} -> {status}: {Truncate(body)} <- {Truncate(fuzz.Describe())}");
                }
            }
            finally
            {
                gate.Release();
            }
        }));

        var report = $"fuzz seed {Seed}, {cases.Count} requests; status histogram: " +
                     string.Join(", ", histogram.Select(kv => $"{kv.Key}: {kv.Value}")) +
                     "; by kind: " + string.Join(", ", byKind.Select(kv => $"{kv.Key}: {kv.Value}"));
        output.WriteLine(report);
        Console.WriteLine(report);
        foreach (var failure in failures.Take(20)) output.WriteLine(failure);

        Assert.True(failures.Count == 0, $"{failures.Count} bad answers, first: {failures.FirstOrDefault()}");
        Assert.True(cases.Count >= 2_000);

        using var ready = await client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using var valid = await client.PostJsonAsync("/v1/activations", ValidBody("/v1/activations", new Random(1), 5));
        var json = await valid.OkJsonAsync();
        var (shape, values) = Wire.ReadTensor(json.GetProperty("activations"));
        Assert.Equal(5, shape[0]);
        Assert.All(values, v => Assert.True(float.IsFinite(v)));
    }

    private sealed record Fuzz(string Kind, HttpMethod Method, string Path, byte[]? Body, string ContentType = "application/json")
    {
        public HttpRequestMessage ToRequest()
        {
            var request = new HttpRequestMessage(Method, Path);
            if (Body is not null)
            {
                request.Content = new ByteArrayContent(Body);
                request.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
            }
            return request;
        }

        public string Describe() => Body is null ? "" : Encoding.UTF8.GetString(Body, 0, Math.Min(Body.Length, 300));
    }

    private static Fuzz Generate(Random random, int index)
    {
        var path = AllEndpoints[random.Next(AllEndpoints.Length)];
        Fuzz Json(string kind, JsonNode node) => new(kind, HttpMethod.Post, path, Encoding.UTF8.GetBytes(node.ToJsonString()));
        Fuzz Text(string kind, string text) => new(kind, HttpMethod.Post, path, Encoding.UTF8.GetBytes(text));
        switch (index % 12)
        {
            case 0:
            {
                var bytes = new byte[random.Next(0, 4096)];
                random.NextBytes(bytes);
                return new("random-bytes", HttpMethod.Post, path, bytes);
            }
            case 1:
            {
                var text = ValidBody(path, random, random.Next(1, 6)).ToJsonString();
                return Text("truncated-json", text[..random.Next(0, text.Length)]);
            }
            case 2:
            {
                var body = ValidBody(path, random, 2);
                var shape = random.Next(5) switch
                {
                    0 => new JsonArray(2_000_000_000, DModel),
                    1 => new JsonArray(int.MaxValue, int.MaxValue),
                    2 => new JsonArray(long.MaxValue, 2),
                    3 => new JsonArray(Enumerable.Range(0, random.Next(3, 40)).Select(_ => (JsonNode)random.Next(1, 1000)).ToArray()),
                    _ => new JsonArray(100_000, DModel),
                };
                SetTensor(body, "shape", shape);
                return Json("huge-shape", body);
            }
            case 3:
            {
                var body = ValidBody(path, random, 2);
                switch (random.Next(4))
                {
                    case 0: SetTensor(body, "shape", new JsonArray(-1, DModel)); break;
                    case 1: SetTensor(body, "shape", new JsonArray(-2, -64)); break;
                    case 2: body["layerIndex"] = -random.Next(1, int.MaxValue); break;
                    default: body["latentSlice"] = new JsonObject { ["start"] = -5, ["stop"] = -1 }; body["tensorIndices"] = new JsonArray(-1, -1); break;
                }
                return Json("negative-size", body);
            }
            case 4:
            {
                var depth = random.Next(2, 3000);
                var nested = new string('[', depth) + new string(']', depth);
                var nestedObject = string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);
                var text = random.Next(3) switch
                {
                    0 => nested,
                    1 => $"{{\"residual\": {{\"dtype\": \"float32\", \"shape\": [1, {DModel}], \"data\": {nested}}}, \"layerIndex\": 0}}",
                    _ => $"{{\"layerIndex\": 0, \"residual\": {nestedObject}}}",
                };
                return Text("deep-nesting", text);
            }
            case 5:
            {
                var body = ValidBody(path, random, 2);
                var keys = body.Select(kv => kv.Key).ToList();
                var key = keys.Count > 0 && random.Next(4) > 0 ? keys[random.Next(keys.Count)] : "unexpected";
                body[key] = WrongValue(random);
                return Json("wrong-type", body);
            }
            case 6:
                return Json("boundary-index", BoundaryBody(path, random));
            case 7:
            {
                var body = ValidBody(path, random, 3);
                var values = new float[3 * DModel];
                for (var i = 0; i < values.Length; i++)
                    values[i] = random.Next(20) == 0 ? (random.Next(3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity }) : 0.1f;
                if (body.ContainsKey("residual")) body["residual"] = Wire.Tensor([3, DModel], values);
                else body["activations"] = Wire.Tensor([3, DModel], values);
                return Json("non-finite", body);
            }
            case 8:
            {
                var bytes = Encoding.UTF8.GetBytes(ValidBody(path, random, 2).ToJsonString());
                for (var flips = random.Next(1, 8); flips > 0; flips--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                return new("byte-flips", HttpMethod.Post, path, bytes);
            }
            case 9:
                return random.Next(5) switch
                {
                    0 => new("wrong-method", HttpMethod.Get, path, null),
                    1 => new("wrong-method", HttpMethod.Put, path, Encoding.UTF8.GetBytes("{}")),
                    2 => new("wrong-content-type", HttpMethod.Post, path, Encoding.UTF8.GetBytes(ValidBody(path, random, 2).ToJsonString()), "text/plain"),
                    3 => new("empty-body", HttpMethod.Post, path, []),
                    _ => new("oversized-body", HttpMethod.Post, path, Encoding.UTF8.GetBytes("{\"text\": \"" + new string('a', 1_100_000) + "\"}")),
                };
            case 10:
            {
                var body = ValidBody(path, random, 2);
                switch (random.Next(4))
                {
                    case 0: SetTensor(body, "dtype", random.Next(2) == 0 ? "int64" : "float64"); break;
                    case 1: SetTensor(body, "data", "!!!not*base64???"); break;
                    case 2: SetTensor(body, "data", Convert.ToBase64String(new byte[random.Next(0, 40)])); break;
                    default: SetTensor(body, "dtype", "float16"); break;
                }
                return Json("tensor-payload", body);
            }
            default:
            {
                var hostile = new[] { "../../../../etc/passwd", "%2e%2e%2fetc%2fpasswd", "mlp_post_act/../../x", "\u0000", new string('x', 5000), "😀\ud800", "{{template}}" };
                var name = Uri.EscapeDataString(hostile[random.Next(hostile.Length)]);
                if (random.Next(2) == 0)
                    return new("hostile-name", HttpMethod.Post, $"/v1/autoencoders/{name}/encode",
                        Encoding.UTF8.GetBytes(ValidBody("/v1/autoencoders/x/encode", random, 2).ToJsonString()));
                var body = ValidBody(path, random, 2);
                body[random.Next(2) == 0 ? "nodeType" : "autoencoder"] = hostile[random.Next(hostile.Length)];
                return Json("hostile-string", body);
            }
        }
    }

    private static JsonNode WrongValue(Random random) => random.Next(8) switch
    {
        0 => "a string",
        1 => JsonValue.Create(random.NextDouble() * 1e300)!,
        2 => true,
        3 => new JsonArray(1, "two", null, new JsonObject()),
        4 => new JsonObject { ["nested"] = new JsonObject { ["deeper"] = 1 } },
        5 => JsonValue.Create(long.MinValue)!,
        6 => JsonValue.Create(3.5)!,
        _ => JsonValue.Create(random.Next())!,
    };

    private static void SetTensor(JsonObject body, string member, JsonNode value)
    {
        if (body["residual"] is JsonObject residual) residual[member] = value;
        else if (body["activations"] is JsonObject activations) activations[member] = value;
        else body["residual"] = new JsonObject { ["dtype"] = "float32", ["shape"] = new JsonArray(1, DModel), [member] = value };
    }

    private static JsonObject BoundaryBody(string path, Random random)
    {
        var tokens = new[] { 0, 1, NCtx, NCtx + 1 }[random.Next(4)];
        var body = ValidBody(path, random, Math.Max(tokens, 1));
        if (tokens == 0) SetTensor(body, "shape", new JsonArray(0, DModel));
        var boundaries = new[] { -1, 0, NLayers - 1, NLayers, int.MaxValue, int.MinValue };
        body["layerIndex"] = boundaries[random.Next(boundaries.Length)];
        if (path.EndsWith("/gradients", StringComparison.Ordinal))
            body["tensorIndices"] = new JsonArray(random.Next(2) == 0 ? tokens : tokens - 1, random.Next(2) == 0 ? 4 * DModel : 4 * DModel - 1);
        if (path.EndsWith("latent-gradient", StringComparison.Ordinal))
            body["latentIndex"] = new[] { -1, 0, NLatents - 1, NLatents, int.MaxValue }[random.Next(5)];
        if (random.Next(3) == 0)
        {
            body["nodeType"] = random.Next(2) == 0 ? "autoencoder_latent" : "attention_head";
            body["latentSlice"] = new JsonObject { ["start"] = new[] { 0, NLatents - 1, NLatents }[random.Next(3)], ["stop"] = new[] { 0, NLatents, NLatents + 1 }[random.Next(3)] };
            if (random.Next(2) == 0) body["attentionTraceType"] = "QK";
        }
        return body;
    }

    /// <summary>A well-formed body for the endpoint, with random residual values.</summary>
    private static JsonObject ValidBody(string path, Random random, int tokens)
    {
        var values = new float[tokens * DModel];
        for (var i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() - 0.5);
        var residual = Wire.Tensor([tokens, DModel], values);
        if (path.EndsWith("/tokenize", StringComparison.Ordinal)) return new JsonObject { ["text"] = "And the earth was without form" };
        if (path.EndsWith("/forward", StringComparison.Ordinal))
            return new JsonObject { ["tokens"] = new JsonArray(Enumerable.Range(0, tokens).Select(t => (JsonNode)(t * 17 % 50257)).ToArray()), ["capture"] = new JsonArray("mlp.post_act") };
        if (path.Contains("/autoencoders/", StringComparison.Ordinal))
        {
            var activations = new float[tokens * 4 * DModel];
            for (var i = 0; i < activations.Length; i++) activations[i] = (float)random.NextDouble();
            var body = new JsonObject { ["activations"] = Wire.Tensor([tokens, 4 * DModel], activations), ["layerIndex"] = random.Next(NLayers) };
            if (path.EndsWith("latent-gradient", StringComparison.Ordinal)) body["latentIndex"] = random.Next(NLatents);
            return body;
        }
        var request = new JsonObject { ["residual"] = residual, ["layerIndex"] = random.Next(NLayers) };
        if (path is "/v1/activations" or "/v1/gradients" or "/v1/jvp")
        {
            request["nodeType"] = "mlp_neuron";
            request["preOrPostAct"] = "post";
        }
        if (path == "/v1/gradients") request["tensorIndices"] = new JsonArray(0, 0);
        if (path == "/v1/jvp") request["writeVector"] = Wire.Tensor([tokens, DModel], values);
        return request;
    }

    private static string Truncate(string text) => text.Length <= 400 ? text : text[..400] + "…";
}
