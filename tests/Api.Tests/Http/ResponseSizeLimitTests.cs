using System.Net;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>
/// <c>Limits:MaxResponseElements</c> set to 10,000 values, so that every kind of answer can be pushed over it with
/// small requests: attention patterns, latents, forward logits and captures. Answers shaped like the input are not limited.
/// </summary>
public sealed class ResponseSizeLimitTests(ResponseSizeLimitTests.Service service) : IClassFixture<ResponseSizeLimitTests.Service>
{
    public const int Limit = 10_000;

    /// <summary>The default model with the answer limit at <see cref="Limit"/>.</summary>
    public sealed class Service() : DefaultModelService(new Dictionary<string, string?> { ["Limits:MaxResponseElements"] = Limit.ToString() });

    private JsonObject Request(string nodeType, int tokens)
    {
        var body = new JsonObject
        {
            ["residual"] = Wire.Tensor([tokens, service.DModel], new float[tokens * service.DModel]),
            ["layerIndex"] = 0,
            ["nodeType"] = nodeType,
            ["preOrPostAct"] = "post",
        };
        if (nodeType == "attention_head") body["attentionTraceType"] = "QK";
        return body;
    }

    [Fact]
    public async Task AttentionPatternsOverTheLimitAreA422NamingTheResidualShape()
    {
        var tokens = (int)Math.Ceiling(Math.Sqrt((double)Limit / service.NHeads)) + 1; // tokens² × heads > limit
        using var response = await service.Client.PostJsonAsync("/v1/activations", Request("attention_head", tokens));
        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "residual.shape");
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains($"{(long)tokens * tokens * service.NHeads} values", detail);
        Assert.Contains($"at most {Limit}", detail);
    }

    [Fact]
    public async Task MlpActivationsUnderTheLimitAreServed()
    {
        var tokens = Limit / service.DFf;
        using var response = await service.Client.PostJsonAsync("/v1/activations", Request("mlp_neuron", tokens));
        var (shape, _) = Wire.ReadTensor((await response.OkJsonAsync()).GetProperty("activations"));
        Assert.Equal([tokens, service.DFf], shape);
    }

    [Fact]
    public async Task AGradientIsLimitedLikeEveryAnswer()
    {
        var tokens = Limit / service.DModel + 1; // the gradient, shaped like the residual, is over the limit
        var body = Request("mlp_neuron", tokens);
        body["tensorIndices"] = new JsonArray(0, 0);
        using var response = await service.Client.PostJsonAsync("/v1/gradients", body);
        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "residual.shape");
        body["residual"] = Wire.Tensor([tokens - 1, service.DModel], new float[(tokens - 1) * service.DModel]);
        using var under = await service.Client.PostJsonAsync("/v1/gradients", body);
        var (shape, _) = Wire.ReadTensor((await under.OkJsonAsync()).GetProperty("gradient"));
        Assert.Equal([tokens - 1, service.DModel], shape);
    }

    [Fact]
    public async Task LatentsOverTheLimitAreA422NamingTheActivationsShape()
    {
        var tokens = Limit / service.AutoencoderLatents + 1;
        var body = new JsonObject
        {
            ["activations"] = Wire.Tensor([tokens, service.DFf], new float[tokens * service.DFf]),
            ["layerIndex"] = 0,
        };
        using var response = await service.Client.PostJsonAsync($"/v1/autoencoders/{service.Autoencoder}/encode", body);
        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "activations.shape");
    }

    [Fact]
    public async Task AForwardPassIsLimitedByItsCapturesNotByTheLogitsItDoesNotReturn()
    {
        using var plain = await service.Client.PostJsonAsync("/v1/forward", new JsonObject { ["tokens"] = new JsonArray(1) });
        Assert.Equal(0, (await plain.OkJsonAsync()).GetProperty("captured").GetArrayLength());
        var body = new JsonObject { ["tokens"] = new JsonArray(1), ["capture"] = new JsonArray("logits") }; // 1 × n_vocab values
        using var response = await service.Client.PostJsonAsync("/v1/forward", body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "capture");
        Assert.Contains("Limits:MaxResponseElements", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AForwardPassFromAPromptWithCapturesOverTheLimitIsA422NamingCapture()
    {
        var body = new JsonObject { ["prompt"] = "And God said", ["capture"] = new JsonArray("mlp.post_act", "logits") };
        using var response = await service.Client.PostJsonAsync("/v1/forward", body);
        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "capture");
    }

    [Fact]
    public async Task TheLimitCountsTheReducedAnswerIndicesIncluded()
    {
        var tokens = (int)Math.Ceiling(Math.Sqrt((double)Limit / service.NHeads)) + 1; // the whole pattern is over the limit
        var body = Request("attention_head", tokens);
        body["output"] = new JsonObject { ["positions"] = new JsonArray(-1) }; // one query row: tokens × heads values
        var json = await (await service.Client.PostJsonAsync("/v1/activations", body)).OkJsonAsync();
        Assert.Equal([1L, tokens, service.NHeads], Wire.ReadTensor(json.GetProperty("activations")).Shape);

        var rows = Limit / service.DFf + 1;
        var mlp = Request("mlp_neuron", rows);                           // rows × d_ff values: over the limit
        mlp["output"] = new JsonObject { ["topK"] = service.DFf / 2 };   // half the values and as many indices: still over
        using var over = await service.Client.PostJsonAsync("/v1/activations", mlp);
        var problem = await over.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "residual.shape");
        Assert.Contains($"{2L * rows * (service.DFf / 2)} values", problem.GetProperty("detail").GetString());
        mlp["output"] = new JsonObject { ["topK"] = 8 };
        var top = await (await service.Client.PostJsonAsync("/v1/activations", mlp)).OkJsonAsync();
        Assert.Equal([rows, 8L], Wire.ReadTensor(top.GetProperty("activations")).Shape);
    }

    [Fact]
    public async Task AForwardPassCanReturnTheTopKOfLogitsItCouldNotReturnWhole()
    {
        var body = new JsonObject { ["tokens"] = new JsonArray(1, 2), ["capture"] = new JsonArray("logits"), ["output"] = new JsonObject { ["topK"] = 10 } };
        var json = await (await service.Client.PostJsonAsync("/v1/forward", body)).OkJsonAsync();
        var captured = json.GetProperty("captured")[0];
        Assert.Equal([2L, 10], Wire.ReadTensor(captured.GetProperty("tensor")).Shape);
        Assert.Equal("int32", captured.GetProperty("tensorIndices").GetProperty("dtype").GetString());
    }
}
