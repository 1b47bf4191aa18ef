using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>
/// Concurrent requests whose base64 text is pooled (TensorTextPool): every answer must equal the answer to the same
/// input sent as a list (not pooled) one at a time, with malformed requests interleaved, cache on and off.
/// </summary>
public sealed class PooledTextStressTests
{
    private const int DModel = 128;

    private static float[] Values(int seed, int count)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    private static JsonArray Nested(int tokens, float[] values)
    {
        var rows = new JsonArray();
        for (var t = 0; t < tokens; t++)
            rows.Add(new JsonArray(values.Skip(t * DModel).Take(DModel).Select(v => (JsonNode)v).ToArray()));
        return rows;
    }

    private static JsonObject ListTensor(int tokens, float[] values) => new()
    {
        ["dtype"] = "float32", ["shape"] = new JsonArray(tokens, DModel), ["data"] = Nested(tokens, values),
    };

    /// <summary>Base64 tensor with "data" first, '+' and '/' escaped, so the copy goes through the unescaping path.</summary>
    private static string EscapedTensorText(int tokens, float[] values)
    {
        var base64 = Wire.Tensor([tokens, DModel], values)["data"]!.GetValue<string>();
        return $"{{\"data\":\"{base64.Replace("+", "\\u002B").Replace("/", "\\/")}\",\"dtype\":\"float32\",\"shape\":[{tokens},{DModel}]}}";
    }

    private sealed record Case(string Path, string Field, Func<JsonNode, JsonNode?, string> Body, bool TwoPayloads);

    private static readonly Case[] Cases =
    [
        new("/v1/activations", "activations",
            (r, _) => new JsonObject { ["residual"] = r.DeepClone(), ["layerIndex"] = 1, ["nodeType"] = "mlp_neuron", ["preOrPostAct"] = "post" }.ToJsonString(), false),
        new("/v1/resid-deltas/attn", "residDelta",
            (r, _) => new JsonObject { ["residual"] = r.DeepClone(), ["layerIndex"] = 2 }.ToJsonString(), false),
        new("/v1/jvp", "jvp",
            (r, w) => new JsonObject { ["residual"] = r.DeepClone(), ["writeVector"] = w!.DeepClone(), ["layerIndex"] = 0, ["nodeType"] = "attention_head", ["preOrPostAct"] = "post", ["attentionTraceType"] = "QK" }.ToJsonString(), true),
        new("/v1/gradients", "gradient",
            (r, _) => new JsonObject { ["residual"] = r.DeepClone(), ["layerIndex"] = 3, ["nodeType"] = "mlp_neuron", ["preOrPostAct"] = "pre", ["tensorIndices"] = new JsonArray(1, 7) }.ToJsonString(), false),
    ];

    private static async Task<float[]> Answer(HttpClient client, string path, string field, string body)
    {
        using var response = await client.PostRawAsync(path, body);
        var json = await response.OkJsonAsync();
        return Wire.ReadTensor(json.GetProperty(field)).Values;
    }

    [Theory]
    [InlineData("true")]
    [InlineData("false")]
    public async Task ConcurrentPooledAnswersEqualListAnswersSentAlone(string cache)
    {
        using var factory = new ServiceFactory(new Dictionary<string, string?>
        {
            ["Cache:Enabled"] = cache, ["Queue:Concurrency"] = "4", ["Queue:Length"] = "1000", ["Queue:IntraOpThreads"] = "1",
        });
        var client = await factory.ReadyClientAsync();
        const int inputs = 10;
        var jobs = new List<(Case Case, int Input, string Body, float[] Expected)>();
        var duplicates = new List<string>();
        for (var i = 0; i < inputs; i++)
        {
            var tokens = 3 + i * 29 % 125; // up to 127 tokens (n_ctx 128): base64 text spanning many pipe segments
            var residual = Values(i, tokens * DModel);
            var write = Values(1000 + i, tokens * DModel);
            foreach (var c in Cases)
            {
                // Reference: the same input as nested lists, one request at a time (no pooled text).
                var expected = await Answer(client, c.Path, c.Field, c.Body(ListTensor(tokens, residual), ListTensor(tokens, write)));
                var b64Residual = Wire.Tensor([tokens, DModel], residual);
                var b64Write = Wire.Tensor([tokens, DModel], write);
                jobs.Add((c, i, c.Body(b64Residual, b64Write), expected));
                // Escaped text with data before shape; a duplicated data key is refused (400) after its first copy was rented.
                var escaped = c.Body(JsonNode.Parse(EscapedTensorText(tokens, residual))!, JsonNode.Parse(EscapedTensorText(tokens, write))!);
                jobs.Add((c, i, escaped, expected));
                var dup = "{\"dtype\":\"float32\",\"data\":\"" + Wire.Tensor([tokens, DModel], Values(5000 + i, tokens * DModel))["data"] +
                          "\",\"shape\":[" + tokens + "," + DModel + "],\"data\":\"" + b64Residual["data"] + "\"}";
                duplicates.Add(c.Body(JsonNode.Parse(dup)!, b64Write));
            }
        }
        var bad = new List<string>(duplicates)
        {
            "{\"residual\":{\"dtype\":\"float32\",\"data\":\"AAAA\"},\"layerIndex\":0}", // no shape after a rented data copy
            "{\"residual\":{\"dtype\":\"float32\",\"shape\":[2,128],\"data\":\"AAAA\"},\"layerIndex\":0}", // wrong length
            "{\"residual\":{\"dtype\":\"float32\",\"shape\":[1,128],\"data\":\"" + new string('A', 680) + "=\"},\"layerIndex\":0,", // truncated JSON
            "{\"residual\":{\"dtype\":\"float32\",\"shape\":[1,128],\"data\":\"" + new string('!', 684) + "\"},\"layerIndex\":0}", // not base64
            "{\"residual\":{\"dtype\":\"float32\",\"shape\":[1,128],\"data\":\"" + new string('A', 684) + "\"},\"layerIndex\":99}", // bad layer
        };
        var random = new Random(7);
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        for (var round = 0; round < 3; round++)
        {
            var order = jobs.OrderBy(_ => random.Next()).ToArray();
            var tasks = new List<Task>();
            foreach (var job in order)
            {
                tasks.Add(Task.Run(async () =>
                {
                    var got = await Answer(client, job.Case.Path, job.Case.Field, job.Body);
                    if (!got.SequenceEqual(job.Expected)) failures.Add($"{job.Case.Path} input {job.Input}");
                }));
                var b = bad[random.Next(bad.Count)];
                var path = Cases[random.Next(Cases.Length)].Path;
                tasks.Add(Task.Run(async () =>
                {
                    using var response = await client.PostRawAsync(path, b);
                    if ((int)response.StatusCode is < 400 or >= 500) failures.Add($"bad body on {path}: {(int)response.StatusCode}");
                }));
            }
            await Task.WhenAll(tasks);
        }
        Assert.Empty(failures);
    }
}
