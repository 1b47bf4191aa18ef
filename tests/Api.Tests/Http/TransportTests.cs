using System.Buffers.Binary;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>
/// Issue 11 over HTTP: safetensors both ways on every tensor endpoint (the same values as JSON), forward's tensor names,
/// answers in the dtype asked for, and every bad safetensors request a 400 naming the field.
/// </summary>
[Collection(DefaultModel.Name)]
public sealed class TransportTests(DefaultModelService model)
{
    private HttpClient Client => model.Client;

    private float[] Values(int count, float phase = 0) => Enumerable.Range(0, count).Select(v => MathF.Sin(v * 0.37f + phase)).ToArray();

    /// <summary>A request of every tensor endpoint, with non-zero inputs.</summary>
    public static TheoryData<string> Endpoints() =>
        ["activations", "attention", "latents", "gradients", "jvp", "residDeltaAttn", "residDeltaMlp", "attentionValues", "logits", "logprobs",
         "encode", "latentGradient", "forward"];

    private (string Path, JsonObject Body) Case(string name)
    {
        var r = model.Requests;
        var residual = Values(3 * model.DModel);
        return name switch
        {
            "activations" => ("/v1/activations", r.Activations(values: residual)),
            "attention" => ("/v1/activations", r.Activations("attention_head", "post", values: residual)),
            "latents" => ("/v1/activations", r.Activations(model.AutoencoderNodeType, layer: model.AutoencoderLayer, values: residual)),
            "gradients" => ("/v1/gradients", r.Activations(values: residual).With("tensorIndices", new JsonArray(1, 4))),
            "jvp" => ("/v1/jvp", r.Activations(values: residual).With("writeVector", r.Residual(3, Values(3 * model.DModel, 1)))),
            "residDeltaAttn" => ("/v1/resid-deltas/attn", r.Block(values: residual)),
            "residDeltaMlp" => ("/v1/resid-deltas/mlp", r.Block(values: residual)),
            "attentionValues" => ("/v1/attention-values", r.Block(values: residual)),
            "logits" => ("/v1/logits", r.Final(values: residual)),
            "logprobs" => ("/v1/logprobs", r.Final(values: residual)),
            "encode" => ($"/v1/autoencoders/{model.Autoencoder}/encode",
                new JsonObject { ["activations"] = Wire.Tensor([3, model.DFf], Values(3 * model.DFf)), ["layerIndex"] = model.AutoencoderLayer }),
            "latentGradient" => ($"/v1/autoencoders/{model.Autoencoder}/latent-gradient",
                new JsonObject { ["activations"] = Wire.Tensor([3, model.DFf], Values(3 * model.DFf)), ["layerIndex"] = model.AutoencoderLayer, ["latentIndex"] = 1 }),
            _ => ("/v1/forward", new JsonObject
            {
                ["tokens"] = new JsonArray(464, 3139, 286, 4881), ["capture"] = new JsonArray("resid.post_attn", "logits", "attn.qk_logits"), ["layers"] = new JsonArray(1),
            }),
        };
    }

    /// <summary>Every tensor of a JSON answer, by its path (keys joined with <c>/</c>), as (dtype, shape, little-endian bytes).</summary>
    private static Dictionary<string, (string Dtype, long[] Shape, byte[] Bytes)> JsonTensors(JsonElement answer)
    {
        var found = new Dictionary<string, (string, long[], byte[])>();
        void Walk(JsonElement node, string path)
        {
            if (node.ValueKind == JsonValueKind.Object && node.TryGetProperty("data", out var data) && node.TryGetProperty("shape", out var shape))
            {
                found[path] = (node.GetProperty("dtype").GetString()!, shape.EnumerateArray().Select(d => d.GetInt64()).ToArray(), Convert.FromBase64String(data.GetString()!));
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

    /// <summary>The JSON answer with each tensor replaced by <c>{"tensor": name}</c>, names from <paramref name="nameOf"/>.</summary>
    private static JsonNode? WithPlaceholders(JsonNode? node, string path, Func<string, string> nameOf) => node switch
    {
        JsonObject o when o.ContainsKey("data") && o.ContainsKey("shape") => new JsonObject { ["tensor"] = nameOf(path) },
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, WithPlaceholders(p.Value, path.Length == 0 ? p.Key : $"{path}/{p.Key}", nameOf)))),
        JsonArray a => new JsonArray(a.Select((v, i) => WithPlaceholders(v, $"{path}/{i}", nameOf)).ToArray()),
        _ => node?.DeepClone(),
    };

    /// <summary>Forward's safetensors names: <c>captured/&lt;location&gt;/&lt;layer or none&gt;</c> for the list entry at a path.</summary>
    private static Func<string, string> NamesIn(JsonElement answer) => path =>
    {
        if (!path.StartsWith("captured/", StringComparison.Ordinal)) return path;
        var parts = path.Split('/');
        var entry = answer.GetProperty("captured")[int.Parse(parts[1])];
        var layer = entry.TryGetProperty("layer", out var l) ? l.GetInt32().ToString() : "none";
        return $"captured/{entry.GetProperty("location").GetString()}/{layer}" + (parts[2] == "tensorIndices" ? "Indices" : "");
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task SafetensorsBothWaysAnswersWhatJsonAnswers(string name)
    {
        var (path, body) = Case(name);
        var json = await (await Client.PostJsonAsync(path, body)).OkJsonAsync();
        var binary = await (await Client.PostSafetensorsAsync(path, SafeTensors.Request(body))).OkSafetensorsAsync();

        var expected = JsonTensors(json);
        var names = NamesIn(json);
        Assert.Equal(expected.Keys.Select(names).Order(), binary.Tensors.Keys.Order());
        foreach (var (at, (dtype, shape, bytes)) in expected)
        {
            var stored = binary.Tensors[names(at)];
            Assert.Equal(("float32", "F32"), (dtype, stored.Dtype));
            Assert.Equal(shape, stored.Shape);
            Assert.True(bytes.AsSpan().SequenceEqual(stored.Bytes), $"{name}: {at} differs between JSON and safetensors");
        }
        Assert.True(JsonNode.DeepEquals(WithPlaceholders(JsonNode.Parse(json.GetRawText()), "", names), JsonNode.Parse(binary.Metadata["json"])),
            $"{name}: __metadata__.json {binary.Metadata["json"]}");
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task SafetensorsRequestsAnswerJsonAndJsonRequestsAnswerSafetensors(string name)
    {
        var (path, body) = Case(name);
        var reference = JsonTensors(await (await Client.PostJsonAsync(path, body)).OkJsonAsync());
        var mixed = JsonTensors(await (await Client.PostSafetensorsAsync(path, SafeTensors.Request(body), "application/json")).OkJsonAsync());
        Assert.Equal(reference.Keys.Order(), mixed.Keys.Order());
        foreach (var (at, tensor) in reference) Assert.True(tensor.Bytes.AsSpan().SequenceEqual(mixed[at].Bytes), $"{name}: {at}");
        var binary = await (await Client.PostJsonForSafetensorsAsync(path, body)).OkSafetensorsAsync();
        Assert.Equal(reference.Count, binary.Tensors.Count);
    }

    [Fact]
    public async Task ForwardNamesItsTensorsByLocationAndLayerWhileItsJsonStaysAList()
    {
        var (path, body) = Case("forward");
        var json = await (await Client.PostJsonAsync(path, body)).OkJsonAsync();
        Assert.Equal(JsonValueKind.Array, json.GetProperty("captured").ValueKind);
        Assert.False(json.GetProperty("captured")[1].TryGetProperty("layer", out _)); // logits: no layer key
        var binary = await (await Client.PostSafetensorsAsync(path, SafeTensors.Request(body))).OkSafetensorsAsync();
        Assert.Equal(["captured/attn.qk_logits/1", "captured/logits/none", "captured/resid.post_attn/1"], binary.Tensors.Keys.Order());
        var captured = binary.Json.GetProperty("captured");
        Assert.Equal("captured/logits/none", captured[1].GetProperty("tensor").GetProperty("tensor").GetString());
        Assert.Equal(json.GetProperty("tokenStrings").GetRawText(), binary.Json.GetProperty("tokenStrings").GetRawText());
    }

    [Fact]
    public async Task TopKAnswersCarryInt32IndicesBesideTheValuesInJsonAndSafetensors()
    {
        var (path, body) = Case("activations");
        var full = Wire.ReadTensor((await (await Client.PostJsonAsync(path, body)).OkJsonAsync()).GetProperty("activations")).Values;
        var asked = (JsonObject)body.DeepClone();
        asked["output"] = new JsonObject { ["topK"] = 4, ["by"] = "abs", ["positions"] = new JsonArray(-1, 0) };

        var json = await (await Client.PostJsonAsync(path, asked)).OkJsonAsync();
        var values = Wire.ReadTensor(json.GetProperty("activations"));
        var indices = json.GetProperty("activationsIndices");
        Assert.Equal("int32", indices.GetProperty("dtype").GetString());
        var ix = Convert.FromBase64String(indices.GetProperty("data").GetString()!);
        var ints = Enumerable.Range(0, ix.Length / 4).Select(i => BinaryPrimitives.ReadInt32LittleEndian(ix.AsSpan(4 * i))).ToArray();
        Assert.Equal([2L, 4], values.Shape);
        foreach (var (row, token) in new[] { (0, 2), (1, 0) })
        {
            var expected = Enumerable.Range(0, model.DFf).OrderByDescending(j => MathF.Abs(full[token * model.DFf + j])).Take(4).ToArray();
            Assert.Equal(expected, ints[(row * 4)..(row * 4 + 4)]);
            Assert.Equal(expected.Select(j => full[token * model.DFf + j]), values.Values[(row * 4)..(row * 4 + 4)]);
        }

        var binary = await (await Client.PostSafetensorsAsync(path, SafeTensors.Request(asked))).OkSafetensorsAsync();
        Assert.Equal(ints, binary.Tensors["activationsIndices"].Ints());
        Assert.Equal(values.Values, binary.Tensors["activations"].Floats());
        Assert.Equal("activationsIndices", binary.Json.GetProperty("activationsIndices").GetProperty("tensor").GetString());
    }

    [Theory]
    [InlineData("float16", "F16")]
    [InlineData("bfloat16", "BF16")]
    public async Task AnswersComeInTheDtypeAskedForAsBase64ListsOrSafetensors(string dtype, string code)
    {
        var (path, body) = Case("residDeltaMlp");
        var full = Wire.ReadTensor((await (await Client.PostJsonAsync(path, body)).OkJsonAsync()).GetProperty("residDelta")).Values;
        var asked = (JsonObject)body.DeepClone();
        asked["output"] = new JsonObject { ["dtype"] = dtype, ["indices"] = new JsonArray(3, 0) };
        float Rounded(float v) => dtype == "float16" ? (float)(Half)v : BitConverter.Int32BitsToSingle((int)((BitConverter.SingleToInt32Bits(v) + 0x7FFF + ((BitConverter.SingleToInt32Bits(v) >> 16) & 1)) & 0xFFFF0000));
        var expected = Enumerable.Range(0, 3).SelectMany(t => new[] { full[t * model.DModel + 3], full[t * model.DModel] }).Select(Rounded).ToArray();

        var json = (await (await Client.PostJsonAsync(path, asked)).OkJsonAsync()).GetProperty("residDelta");
        Assert.Equal(dtype, json.GetProperty("dtype").GetString());
        var stored = new StoredTensor(code, [3, 2], Convert.FromBase64String(json.GetProperty("data").GetString()!));
        Assert.Equal(expected, stored.Floats());

        var list = (await (await Client.PostJsonAsync(path, ((JsonObject)asked.DeepClone()).With("outputEncoding", "list"))).OkJsonAsync()).GetProperty("residDelta");
        Assert.Equal(dtype, list.GetProperty("dtype").GetString());
        Assert.Equal(expected, list.GetProperty("data").EnumerateArray().SelectMany(r => r.EnumerateArray()).Select(v => v.GetSingle()));

        var binary = await (await Client.PostSafetensorsAsync(path, SafeTensors.Request(asked))).OkSafetensorsAsync();
        Assert.Equal(code, binary.Tensors["residDelta"].Dtype);
        Assert.Equal(expected, binary.Tensors["residDelta"].Floats());
    }

    [Fact]
    public async Task ListAnswersWriteTopKIndicesAsIntegers()
    {
        var (path, body) = Case("logprobs");
        var asked = body.With("output", new JsonObject { ["topK"] = 3, ["positions"] = new JsonArray(-1) }).With("outputEncoding", "list");
        var json = await (await Client.PostJsonAsync(path, asked)).OkJsonAsync();
        var indices = json.GetProperty("logprobsIndices");
        Assert.Equal("int32", indices.GetProperty("dtype").GetString());
        var row = indices.GetProperty("data")[0].EnumerateArray().ToArray();
        Assert.Equal(3, row.Length);
        Assert.All(row, v => Assert.True(v.TryGetInt32(out _), $"{v} is not an integer"));
        var values = json.GetProperty("logprobs").GetProperty("data")[0].EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.True(values[0] >= values[1] && values[1] >= values[2]);
    }

    [Fact]
    public async Task AForwardCaptureOfLogitsCanBeCutToItsTopK()
    {
        var body = new JsonObject { ["tokens"] = new JsonArray(464, 3139), ["capture"] = new JsonArray("logits"), ["output"] = new JsonObject { ["topK"] = 5 } };
        var binary = await (await Client.PostJsonForSafetensorsAsync("/v1/forward", body)).OkSafetensorsAsync();
        Assert.Equal([2L, 5], binary.Tensors["captured/logits/none"].Shape);
        Assert.Equal([2L, 5], binary.Tensors["captured/logits/noneIndices"].Shape);
        var entry = binary.Json.GetProperty("captured")[0];
        Assert.Equal("captured/logits/noneIndices", entry.GetProperty("tensorIndices").GetProperty("tensor").GetString());
    }

    [Fact]
    public async Task AcceptChoosesTheAnswersMediaTypeAndNothingWeWriteIsA406()
    {
        var (path, body) = Case("activations");
        using var preferred = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json") };
        preferred.Headers.Accept.ParseAdd("application/json;q=0.5, application/x-safetensors");
        using var answer = await Client.SendAsync(preferred);
        Assert.Equal(SafeTensors.MediaType, answer.Content.Headers.ContentType?.MediaType);
        var refused = await Client.PostSafetensorsAsync(path, SafeTensors.Request(body), "text/csv");
        Assert.Equal(HttpStatusCode.NotAcceptable, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
    }

    private static byte[] F32(int count) => new byte[count * 4];

    /// <summary>Bad safetensors requests to <c>/v1/activations</c>: what, body, field named, words of the message.</summary>
    public static TheoryData<string, string, string> BadFiles() => new()
    {
        { "header length past the end", "past-end", "body" },
        { "offsets out of range", "out-of-range", "residual.data_offsets" },
        { "overlapping data", "overlap", "writeVector.data_offsets" },
        { "an int32 tensor", "int32", "residual.dtype" },
        { "a float64 tensor", "float64", "residual.dtype" },
        { "no request entry", "no-request", "__metadata__.request" },
        { "a malformed request entry", "bad-request", "__metadata__.request" },
        { "another metadata entry", "other-metadata", "__metadata__.format" },
        { "a tensor the request does not have", "unknown-tensor", "residul" },
        { "an unknown field in the request entry", "unknown-field", "detachLNScale" },
        { "an unknown field inside output", "unknown-output-field", "output.top" },
        { "a tensor also in the request entry", "both", "residual" },
        { "a non-tensor field sent as a tensor", "layer-as-tensor", "layerIndex" },
        { "a required tensor missing", "no-residual", "residual" },
    };

    private byte[] BadFile(string kind)
    {
        var d = model.DModel;
        var fields = """{"layerIndex":0,"nodeType":"mlp_neuron","preOrPostAct":"post"}""";
        var meta = new Dictionary<string, string> { ["request"] = fields };
        (string, string, long[], byte[]) Residual(string dtype = "F32", int size = 4) => ("residual", dtype, [2, d], new byte[2 * d * size]);
        switch (kind)
        {
            case "past-end":
                var file = SafeTensors.File([Residual()], meta);
                BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)file.Length);
                return file;
            case "out-of-range":
                return SafeTensors.File([Residual()], meta)[..^4];
            case "overlap":
            {
                var ok = SafeTensors.File([Residual(), ("writeVector", "F32", [2, d], F32(2 * d))], meta);
                var text = System.Text.Encoding.UTF8.GetString(ok);
                var patched = text.Replace($"\"data_offsets\":[{8 * d},{16 * d}]", $"\"data_offsets\":[{8 * d - 4},{16 * d - 4}]");
                var bytes = System.Text.Encoding.UTF8.GetBytes(patched);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, BinaryPrimitives.ReadUInt64LittleEndian(ok) + (ulong)(bytes.Length - ok.Length));
                return bytes[..^4];
            }
            case "int32": return SafeTensors.File([Residual("I32")], meta);
            case "float64": return SafeTensors.File([Residual("F64", 8)], meta);
            case "no-request": return SafeTensors.File([Residual()], null);
            case "bad-request": return SafeTensors.File([Residual()], new Dictionary<string, string> { ["request"] = "{layerIndex: 0" });
            case "other-metadata": return SafeTensors.File([Residual()], new Dictionary<string, string>(meta) { ["format"] = "pt" });
            case "unknown-tensor": return SafeTensors.File([Residual(), ("residul", "F32", [2, d], F32(2 * d))], meta);
            case "unknown-field":
                return SafeTensors.File([Residual()], new Dictionary<string, string> { ["request"] = fields.Replace("}", ",\"detachLNScale\":false}") });
            case "unknown-output-field":
                return SafeTensors.File([Residual()], new Dictionary<string, string> { ["request"] = fields.Replace("}", ",\"output\":{\"top\":3}}") });
            case "both":
                return SafeTensors.File([Residual()], new Dictionary<string, string> { ["request"] = fields.Replace("}", ",\"residual\":{}}") });
            case "layer-as-tensor":
                return SafeTensors.File([Residual(), ("layerIndex", "F32", [1], F32(1))],
                    new Dictionary<string, string> { ["request"] = """{"nodeType":"mlp_neuron","preOrPostAct":"post"}""" });
            default: return SafeTensors.File([], meta);
        }
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task EveryBadSafetensorsRequestIsA400NamingTheField(string what, string kind, string field)
    {
        using var response = await Client.PostSafetensorsAsync("/v1/activations", BadFile(kind));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{what}: {(int)response.StatusCode} {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(field == JsonDocument.Parse(text).RootElement.GetProperty("field").GetString(), $"{what}: {text}");
    }

    [Fact]
    public async Task HalfPrecisionRequestTensorsAreWidenedToTheSameAnswer()
    {
        var d = model.DModel;
        var halves = Values(3 * d).Select(v => (Half)v).ToArray();
        var widened = halves.Select(h => (float)h).ToArray();
        var bytes = new byte[halves.Length * 2];
        for (var i = 0; i < halves.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), halves[i]);
        var fields = """{"layerIndex":0,"nodeType":"mlp_neuron","preOrPostAct":"post"}""";
        var binary = await (await Client.PostSafetensorsAsync("/v1/activations",
            SafeTensors.File([("residual", "F16", [3, d], bytes)], new Dictionary<string, string> { ["request"] = fields }))).OkSafetensorsAsync();
        var json = Wire.ReadTensor((await (await Client.PostJsonAsync("/v1/activations", model.Requests.Activations(values: widened))).OkJsonAsync())
            .GetProperty("activations"));
        Assert.Equal(json.Values, binary.Tensors["activations"].Floats());
    }

    [Fact]
    public async Task OutputFieldsTheAnswerCannotServeAre422sNamingThem()
    {
        var (path, body) = Case("activations");
        foreach (var (output, field) in new[]
                 {
                     (new JsonObject { ["topK"] = model.DFf + 1 }, "output.topK"),
                     (new JsonObject { ["positions"] = new JsonArray(3) }, "output.positions"),
                     (new JsonObject { ["indices"] = new JsonArray(model.DFf) }, "output.indices"),
                     (new JsonObject { ["by"] = "abs" }, "output.by"),
                 })
        {
            using var response = await Client.PostJsonAsync(path, ((JsonObject)body.DeepClone()).With("output", output));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{output.ToJsonString()}: {(int)response.StatusCode} {text}");
            Assert.Equal(field, JsonDocument.Parse(text).RootElement.GetProperty("field").GetString());
        }
        using var unknown = await Client.PostJsonAsync(path, ((JsonObject)body.DeepClone()).With("output", new JsonObject { ["top"] = 3 }));
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal("output.top", JsonDocument.Parse(await unknown.Content.ReadAsStringAsync()).RootElement.GetProperty("field").GetString());
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesBothMediaTypesOnEveryTensorEndpoint()
    {
        var document = JsonNode.Parse(await Client.GetStringAsync("/swagger/v1/swagger.json"))!;
        var described = 0;
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            if (item!["post"] is not { } post || path == "/v1/tokenize") continue;
            var request = post["requestBody"]!["content"]!.AsObject();
            var answer = post["responses"]!["200"]!["content"]!.AsObject();
            foreach (var content in new[] { request, answer })
            {
                Assert.True(content.ContainsKey("application/json"), $"{path}: {content.ToJsonString()}");
                Assert.Equal("binary", content[SafeTensors.MediaType]?["schema"]?["format"]?.GetValue<string>());
            }
            Assert.NotNull(post["responses"]!["406"]);
            described++;
        }
        Assert.True(described >= 11, $"{described} tensor endpoints");
        Assert.Contains("topK", document["components"]!["schemas"]!["OutputSpec"]!["properties"]!.AsObject().Select(p => p.Key));
    }
}
