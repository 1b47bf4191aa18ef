using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Attribution;

/// <summary>
/// <c>POST /v1/attribution</c> over the binary transport and with the <c>output</c> reduction (api.md, "Binary tensors"
/// and "Output selection and reduction"): safetensors answers hold every tensor of the JSON answer under its path
/// (<c>logits</c>, <c>sums/&lt;group&gt;/&lt;scalar&gt;</c>, <c>scalars/&lt;group&gt;/&lt;scalar&gt;/&lt;layer|none&gt;</c>,
/// under <c>results/&lt;i&gt;/</c> in a batch), <c>output.dtype</c> converts every tensor and nothing else,
/// <c>output.topK</c> keeps each row's largest with an int32 <c>&lt;key&gt;Indices</c> sibling.
/// </summary>
[Collection(DefaultModel.Name)]
public sealed class AttributionTransportTests(DefaultModelService service)
{
    private static JsonObject Lord(JsonNode tokens) => new()
    {
        ["tokens"] = tokens,
        ["loss"] = new JsonObject { ["name"] = "logit_diff", ["targetTokens"] = new JsonArray(35750), ["distractorTokens"] = new JsonArray(5822) },
        ["topK"] = 3,
    };

    /// <summary>"In the beginning God created" (6 tokens) and "And the".</summary>
    private static JsonArray Batch() => new(new JsonArray(818, 262, 3726, 1793, 2727), new JsonArray(1870, 262));

    /// <summary>Every tensor of a JSON answer by its path (keys and list indices joined with <c>/</c>): dtype, shape, bytes.</summary>
    private static Dictionary<string, (string Dtype, long[] Shape, byte[] Bytes)> JsonTensors(JsonElement answer)
    {
        var found = new Dictionary<string, (string, long[], byte[])>();
        void Walk(JsonElement node, string path)
        {
            if (node.ValueKind == JsonValueKind.Object && node.TryGetProperty("data", out var data) && node.TryGetProperty("shape", out var shape))
            {
                found[path] = (node.GetProperty("dtype").GetString()!, shape.EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                    Convert.FromBase64String(data.GetString()!));
                return;
            }
            if (node.ValueKind == JsonValueKind.Object)
                foreach (var p in node.EnumerateObject()) Walk(p.Value, path.Length == 0 ? p.Name : $"{path}/{p.Name}");
            if (node.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var item in node.EnumerateArray()) Walk(item, $"{path}/{i++}");
            }
        }
        Walk(answer, "");
        return found;
    }

    private static JsonNode? WithPlaceholders(JsonNode? node, string path) => node switch
    {
        JsonObject o when o.ContainsKey("data") && o.ContainsKey("shape") => new JsonObject { ["tensor"] = path },
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, WithPlaceholders(p.Value, path.Length == 0 ? p.Key : $"{path}/{p.Key}")))),
        JsonArray a => new JsonArray(a.Select((v, i) => WithPlaceholders(v, $"{path}/{i}")).ToArray()),
        _ => node?.DeepClone(),
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SafetensorsAnswersHoldEveryTensorOfTheJsonAnswerUnderItsPath(bool batched)
    {
        var body = Lord(batched ? Batch() : new JsonArray(818, 262, 3726, 1793, 2727)).With("dense", true).With("verifyTopN", 2)
            .With("autoencoders", new JsonArray(service.Autoencoder));
        var json = await (await service.Client.PostJsonAsync("/v1/attribution", body)).OkJsonAsync();
        var binary = await (await service.Client.PostJsonForSafetensorsAsync("/v1/attribution", body)).OkSafetensorsAsync();
        var expected = JsonTensors(json);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), binary.Tensors.Keys.Order(StringComparer.Ordinal));
        var prefix = batched ? "results/1/" : "";
        Assert.Contains($"{prefix}logits", binary.Tensors.Keys);
        Assert.Contains($"{prefix}sums/act_times_grad/unflattened_attn_act_times_grad", binary.Tensors.Keys);
        Assert.Contains($"{prefix}scalars/activation/attn_qk_probs/0", binary.Tensors.Keys);
        Assert.Contains($"{prefix}scalars/act_times_grad/token_attribution/none", binary.Tensors.Keys);
        foreach (var (path, (dtype, shape, bytes)) in expected)
        {
            var stored = binary.Tensors[path];
            Assert.Equal(("float32", "F32"), (dtype, stored.Dtype));
            Assert.Equal(shape, stored.Shape);
            Assert.True(bytes.AsSpan().SequenceEqual(stored.Bytes), $"{path} differs between JSON and safetensors");
        }
        Assert.True(JsonNode.DeepEquals(WithPlaceholders(JsonNode.Parse(json.GetRawText()), ""), JsonNode.Parse(binary.Metadata["json"])),
            $"__metadata__.json {binary.Metadata["json"]}");
    }

    [Theory]
    [InlineData("float16", "F16")]
    [InlineData("bfloat16", "BF16")]
    public async Task OutputDtypeConvertsEveryTensorAndLeavesTheTableAndLossesAlone(string dtype, string stored)
    {
        var body = Lord(Batch()).With("dense", true);
        var full = await (await service.Client.PostJsonForSafetensorsAsync("/v1/attribution", body)).OkSafetensorsAsync();
        var halfBody = Lord(Batch()).With("dense", true).With("output", new JsonObject { ["dtype"] = dtype });
        var half = await (await service.Client.PostJsonForSafetensorsAsync("/v1/attribution", halfBody)).OkSafetensorsAsync();
        Assert.Equal(full.Tensors.Keys.Order(StringComparer.Ordinal), half.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, tensor) in full.Tensors)
        {
            var reduced = half.Tensors[name];
            Assert.Equal(stored, reduced.Dtype);
            Assert.Equal(tensor.Shape, reduced.Shape);
            var (a, b) = (tensor.Floats(), reduced.Floats());
            for (var i = 0; i < a.Length; i++)
            {
                var rounded = dtype == "float16" ? (float)(Half)a[i] : BFloat16(a[i]);
                Assert.True(b[i] == rounded || Math.Abs(b[i] - a[i]) <= Math.Abs(rounded - a[i]) * 1.0001 + 1e-12,
                    $"{name}[{i}]: {b[i]} is not {a[i]} rounded to {dtype} ({rounded})");
            }
        }
        // The node table, losses and tokens are JSON, untouched by the dtype.
        var (fullJson, halfJson) = (full.Json.GetProperty("results"), half.Json.GetProperty("results"));
        for (var s = 0; s < 2; s++)
        {
            Assert.Equal(fullJson[s].GetProperty("loss").GetDouble(), halfJson[s].GetProperty("loss").GetDouble());
            Assert.Equal(fullJson[s].GetProperty("nodeTable").GetRawText(), halfJson[s].GetProperty("nodeTable").GetRawText());
        }
    }

    private static float BFloat16(float x)
    {
        var bits = BitConverter.SingleToInt32Bits(x);
        var rounded = bits + 0x7FFF + ((bits >> 16) & 1); // round to nearest even
        return BitConverter.Int32BitsToSingle(rounded & unchecked((int)0xFFFF0000));
    }

    [Fact]
    public async Task OutputTopKKeepsEachRowsLargestWithInt32IndicesBesideEachTensor()
    {
        var tokens = new JsonArray(818, 262, 3726, 1793, 2727);
        var full = await (await service.Client.PostJsonForSafetensorsAsync("/v1/attribution", Lord(tokens.DeepClone()))).OkSafetensorsAsync();
        var body = Lord(tokens.DeepClone()).With("output", new JsonObject { ["topK"] = 2, ["by"] = "abs" });
        var topJson = await (await service.Client.PostJsonAsync("/v1/attribution", body)).OkJsonAsync();
        var top = await (await service.Client.PostJsonForSafetensorsAsync("/v1/attribution", body)).OkSafetensorsAsync();
        Assert.Equal(full.Json.GetProperty("nodeTable").GetRawText(), topJson.GetProperty("nodeTable").GetRawText());
        var sums = full.Tensors.Keys.Where(k => k.StartsWith("sums/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(sums);
        Assert.Equal(sums.Concat(sums.Select(k => k + "Indices")).Order(StringComparer.Ordinal), top.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var name in sums)
        {
            var (values, shape) = (full.Tensors[name].Floats(), full.Tensors[name].Shape);
            var width = (int)shape[^1];
            var (kept, at) = (top.Tensors[name].Floats(), top.Tensors[name + "Indices"].Ints());
            Assert.Equal(shape[..^1].Append(2L).ToArray(), top.Tensors[name].Shape);
            Assert.Equal(top.Tensors[name].Shape, top.Tensors[name + "Indices"].Shape);
            for (var row = 0; row < kept.Length / 2; row++)
            {
                var rowValues = values.Skip(row * width).Take(width).ToArray();
                var largest = rowValues.Select(Math.Abs).OrderDescending().Take(2).ToArray();
                for (var j = 0; j < 2; j++)
                {
                    Assert.Equal(rowValues[at[row * 2 + j]], kept[row * 2 + j]);
                    Assert.Equal(largest[j], Math.Abs(kept[row * 2 + j]));
                }
            }
            // The JSON answer puts the indices beside the tensor, under <key>Indices.
            var parts = name.Split('/');
            var group = topJson.GetProperty("sums").GetProperty(parts[1]);
            Assert.Equal("int32", group.GetProperty(parts[2] + "Indices").GetProperty("dtype").GetString());
        }
    }

    [Fact]
    public async Task OutputFieldsTheAnswerCannotServeAreRefusedNamingThem()
    {
        // token_attribution is [tokens, 1] with dense: a top 2 of one value does not exist.
        var dense = Lord(new JsonArray(1870, 262)).With("dense", true).With("output", new JsonObject { ["topK"] = 2 });
        using var refused = await service.Client.PostJsonAsync("/v1/attribution", dense);
        await refused.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "output.topK");
        var far = Lord(new JsonArray(1870, 262)).With("output", new JsonObject { ["positions"] = new JsonArray(5) });
        using var position = await service.Client.PostJsonAsync("/v1/attribution", far);
        await position.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "output.positions");
    }
}
