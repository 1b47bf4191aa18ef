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
    public async Task ANullWriteVectorIsA400NamingIt()
    {
        var body = MlpRequest();
        body["writeVector"] = null;
        using var response = await service.Client.PostJsonAsync("/v1/jvp", body);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "writeVector");
    }

    [Fact]
    public async Task NullTensorIndicesAreA400NamingThem()
    {
        var body = MlpRequest();
        body["tensorIndices"] = null;
        using var response = await service.Client.PostJsonAsync("/v1/gradients", body);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "tensorIndices");
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

    [Theory]
    [InlineData("\"0,1\"")]
    [InlineData("{\"a\": 1}")]
    public async Task TensorIndicesThatAreNotAnArrayAreA400NamingThem(string indices)
    {
        var body = MlpRequest();
        body["tensorIndices"] = JsonNode.Parse(indices);
        using var response = await service.Client.PostJsonAsync("/v1/gradients", body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "tensorIndices");
        Assert.Contains("array of integers", problem.GetProperty("detail").GetString());
    }

    public static TheoryData<string, string, string> EnumsAsNumbers => new()
    {
        { "nodeType", "3", "mlp_neuron" },
        { "nodeType", "\"3\"", "mlp_neuron" },
        { "preOrPostAct", "0", "pre, post" },
        { "passType", "1", "forward, backward" },
        { "outputEncoding", "1", "base64, list" },
    };

    [Theory]
    [MemberData(nameof(EnumsAsNumbers))]
    public async Task AnEnumGivenAsANumberIsA400ListingTheAcceptedSpellings(string field, string value, string accepted)
    {
        var body = MlpRequest();
        body[field] = JsonNode.Parse(value);
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, field);
        Assert.Contains(accepted, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AnAttentionTraceTypeOutsideItsValuesListsQkQAndK()
    {
        var body = MlpRequest();
        body["nodeType"] = "attention_head";
        body["attentionTraceType"] = "Z";
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "attentionTraceType");
        Assert.Contains("QK, Q, K", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AnIntegerGivenAsAStringIsA400()
    {
        var body = MlpRequest();
        body["layerIndex"] = "1";
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "layerIndex");
        Assert.Contains("expected an integer", problem.GetProperty("detail").GetString());
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

    [Fact]
    public async Task AnEmptyBodyIsA400NamingTheBody()
    {
        using var response = await service.Client.PostRawAsync("/v1/activations", "");
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "body");
        Assert.Contains("expected a JSON object", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AJsonArrayBodyIsDescribedWithoutCSharpTypeNames()
    {
        using var response = await service.Client.PostRawAsync("/v1/activations", "[]");
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "body");
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains("a JSON object with residual", detail);
        Assert.DoesNotContain("ReconService", detail);
    }

    [Fact]
    public async Task TheWrongContentTypeIsA415NamingContentType()
    {
        using var content = new StringContent(MlpRequest().ToJsonString(), System.Text.Encoding.UTF8, "text/plain");
        using var response = await service.Client.PostAsync("/v1/activations", content);
        var problem = await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "Content-Type");
        Assert.Contains("application/json", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task DataThatIsNotBase64SaysSoRatherThanGivingASize()
    {
        var body = MlpRequest();
        body["residual"]!["data"] = "!!!notbase64";
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "residual.data");
        Assert.Contains("not valid base64", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ALatentSliceWithoutStopSaysStopIsMissing()
    {
        var body = MlpRequest();
        body["nodeType"] = "mlp_autoencoder_latent";
        body["latentSlice"] = new JsonObject { ["start"] = 0 };
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "latentSlice.stop");
    }
}
