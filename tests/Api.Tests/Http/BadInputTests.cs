using System.Net;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>
/// Input a tester sent that once gave a 500, an empty 400 or a silent 200: explicit nulls, wrong JSON types,
/// enums as numbers, integers as strings, oversized answers and the framework's own rejections.
/// </summary>
[Collection(DefaultModel.Name)]
public sealed class BadInputTests(DefaultModelService service)
{
    private JsonObject Residual(int tokens = 3) => Wire.Tensor([tokens, service.DModel], new float[tokens * service.DModel]);

    private JsonObject MlpRequest() => new()
    {
        ["residual"] = Residual(),
        ["layerIndex"] = 0,
        ["nodeType"] = "mlp_neuron",
        ["preOrPostAct"] = "post",
    };

    /// <summary>
    /// One change to a valid MLP-neuron request (merged into it, objects field by field) and what the service must answer:
    /// endpoint, change, status, the field the detail names, and words the detail must contain.
    /// </summary>
    public static TheoryData<string, string, HttpStatusCode, string, string> ChangesToAValidRequest => new()
    {
        { "/v1/jvp", """{"writeVector": null}""", HttpStatusCode.BadRequest, "writeVector", "null" },
        { "/v1/gradients", """{"tensorIndices": null}""", HttpStatusCode.BadRequest, "tensorIndices", "null" },
        { "/v1/gradients", """{"tensorIndices": "0,1"}""", HttpStatusCode.BadRequest, "tensorIndices", "array of integers" },
        { "/v1/gradients", """{"tensorIndices": {"a": 1}}""", HttpStatusCode.BadRequest, "tensorIndices", "array of integers" },
        { "/v1/activations", """{"nodeType": 3}""", HttpStatusCode.BadRequest, "nodeType", "mlp_neuron" },
        { "/v1/activations", """{"nodeType": "3"}""", HttpStatusCode.BadRequest, "nodeType", "mlp_neuron" },
        { "/v1/activations", """{"preOrPostAct": 0}""", HttpStatusCode.BadRequest, "preOrPostAct", "pre, post" },
        { "/v1/activations", """{"passType": 1}""", HttpStatusCode.BadRequest, "passType", "forward, backward" },
        { "/v1/activations", """{"outputEncoding": 1}""", HttpStatusCode.BadRequest, "outputEncoding", "base64, list" },
        { "/v1/activations", """{"nodeType": "attention_head", "attentionTraceType": "Z"}""", HttpStatusCode.BadRequest, "attentionTraceType", "QK, Q, K" },
        { "/v1/activations", """{"layerIndex": "1"}""", HttpStatusCode.BadRequest, "layerIndex", "expected an integer" },
        { "/v1/activations", """{"residual": {"data": "!!!notbase64"}}""", HttpStatusCode.BadRequest, "residual.data", "not valid base64" },
        { "/v1/activations", """{"nodeType": "mlp_autoencoder_latent", "latentSlice": {"start": 0}}""", HttpStatusCode.BadRequest, "latentSlice.stop", "stop" },
    };

    [Theory]
    [MemberData(nameof(ChangesToAValidRequest))]
    public async Task AChangedRequestIsRefusedNamingTheField(string path, string change, HttpStatusCode status, string field, string words)
    {
        var body = MlpRequest();
        Merge(body, JsonNode.Parse(change)!.AsObject());
        using var response = await service.Client.PostJsonAsync(path, body);
        var problem = await response.AssertProblemAsync(status, field);
        Assert.Contains(words, problem.GetProperty("detail").GetString());
    }

    /// <summary>Bodies that are not a request object at all: media type, body, status, field named, words in the detail.</summary>
    public static TheoryData<string, string, HttpStatusCode, string, string> BodiesThatAreNotRequests => new()
    {
        { "application/json", "", HttpStatusCode.BadRequest, "body", "expected a JSON object" },
        { "application/json", "[]", HttpStatusCode.BadRequest, "body", "a JSON object with residual" },
        { "text/plain", """{"layerIndex": 0}""", HttpStatusCode.UnsupportedMediaType, "Content-Type", "application/json" },
    };

    [Theory]
    [MemberData(nameof(BodiesThatAreNotRequests))]
    public async Task ABodyThatIsNotARequestIsRefusedWithoutCSharpTypeNames(string mediaType, string text, HttpStatusCode status, string field, string words)
    {
        using var content = new StringContent(text, System.Text.Encoding.UTF8, mediaType);
        using var response = await service.Client.PostAsync("/v1/activations", content);
        var problem = await response.AssertProblemAsync(status, field);
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains(words, detail);
        Assert.DoesNotContain("ReconService", detail);
    }

    /// <summary>Sets each field of <paramref name="change"/> on <paramref name="target"/>, merging objects into objects.</summary>
    private static void Merge(JsonObject target, JsonObject change)
    {
        foreach (var (key, value) in change.ToList())
        {
            if (value is JsonObject inner && target[key] is JsonObject existing)
                Merge(existing, inner);
            else
                target[key] = value?.DeepClone();
        }
    }

    public static TheoryData<string, string, string> NullRequiredFields => new()
    {
        { "/v1/activations", "residual", """{"residual": null, "layerIndex": 0, "nodeType": "mlp_neuron", "preOrPostAct": "post"}""" },
        { "/v1/logits", "residual", """{"residual": null}""" },
        { "/v1/logprobs", "residual", """{"residual": null}""" },
        { "/v1/resid-deltas/attn", "residual", """{"residual": null, "layerIndex": 0}""" },
        { "/v1/attention-values", "residual", """{"residual": null, "layerIndex": 0}""" },
        { "/v1/autoencoders/mlp_post_act/encode", "activations", """{"activations": null, "layerIndex": 0}""" },
        { "/v1/tokenize", "text", """{"text": null}""" },
    };

    [Theory]
    [MemberData(nameof(NullRequiredFields))]
    public async Task NullOnARequiredFieldIsA400NamingIt(string path, string field, string body)
    {
        using var response = await service.Client.PostRawAsync(path, body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, field);
        Assert.Contains("null", problem.GetProperty("detail").GetString());
        Assert.Equal(field, problem.GetProperty("field").GetString());
    }

    [Fact]
    public async Task ANullCaptureMeansTheSameAsNoCapture()
    {
        using var withNull = await service.Client.PostRawAsync("/v1/forward", """{"prompt": "hi", "capture": null}""");
        using var without = await service.Client.PostRawAsync("/v1/forward", """{"prompt": "hi"}""");
        var a = await withNull.OkJsonAsync();
        var b = await without.OkJsonAsync();
        Assert.Equal(0, a.GetProperty("captured").GetArrayLength());
        Assert.Equal(b.GetProperty("tokens").GetRawText(), a.GetProperty("tokens").GetRawText());
    }

    public static TheoryData<string, string, string, string> WrongTypesOnArrayFields => new()
    {
        { "/v1/forward", "capture", """{"prompt": "hi", "capture": "resid.post_attn"}""", "array of strings" },
        { "/v1/forward", "capture", """{"prompt": "hi", "capture": 5}""", "array of strings" },
        { "/v1/forward", "tokens", """{"tokens": "1,2"}""", "array of integers" },
        { "/v1/forward", "layers", """{"prompt": "hi", "layers": "0"}""", "array of integers" },
    };

    [Theory]
    [MemberData(nameof(WrongTypesOnArrayFields))]
    public async Task AWrongJsonTypeOnAnArrayFieldIsA400SayingAnArrayIsExpected(string path, string field, string body, string expected)
    {
        using var response = await service.Client.PostRawAsync(path, body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, field);
        Assert.Contains(expected, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task NamedFloatLiteralsStillWorkInTensorLists()
    {
        var body = MlpRequest();
        var values = new JsonArray();
        for (var t = 0; t < 3; t++)
        {
            var row = new JsonArray();
            for (var i = 0; i < service.DModel; i++) row.Add(t == 0 && i == 0 ? JsonValue.Create("NaN") : JsonValue.Create(0.0f));
            values.Add(row);
        }
        body["residual"] = new JsonObject { ["dtype"] = "float32", ["shape"] = new JsonArray(3, service.DModel), ["data"] = values };
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        // Read as a NaN (and then rejected as non-finite), not as a type error.
        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "residual.data");
    }

    [Fact]
    public async Task AResponseLargerThanTheLimitIsA422BeforeAnyWork()
    {
        var body = new JsonObject { ["residual"] = Wire.Tensor([16, 128, service.DModel], new float[16 * 128 * service.DModel]) };
        using var response = await service.Client.PostJsonAsync("/v1/logprobs", body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "residual.shape");
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains("Limits:MaxResponseElements", detail);
        Assert.Contains($"[16, 128, {service.DModel}]", detail);
    }

    [Fact]
    public async Task AFullContextLogprobsAnswerFitsTheDefaultLimit()
    {
        var body = new JsonObject { ["residual"] = Residual(service.NCtx) };
        using var response = await service.Client.PostJsonAsync("/v1/logprobs", body);
        var (shape, _) = Wire.ReadTensor((await response.OkJsonAsync()).GetProperty("logprobs"));
        Assert.Equal(service.NCtx, shape[0]);
    }
}
