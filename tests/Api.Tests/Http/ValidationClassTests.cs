using System.Net;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>
/// Each validation class of the reliability issue, through HTTP: status, application/problem+json, the field
/// named and what was expected.
/// </summary>
[Collection(DefaultModel.Name)]
public sealed class ValidationClassTests(DefaultModelService service)
{
    private JsonObject Request(string nodeType, string preOrPost = "post", int tokens = 3, float[]? values = null)
    {
        var body = new JsonObject
        {
            ["residual"] = Wire.Tensor([tokens, service.DModel], values ?? new float[tokens * service.DModel]),
            ["layerIndex"] = 0,
            ["nodeType"] = nodeType,
            ["preOrPostAct"] = preOrPost,
        };
        if (nodeType == "attention_head") body["attentionTraceType"] = "QK";
        return body;
    }

    private async Task<JsonObject> LatentRequestAsync()
    {
        var model = await (await service.Client.GetAsync("/v1/model")).OkJsonAsync();
        var autoencoder = model.GetProperty("autoencoders")[0];
        var body = Request(autoencoder.GetProperty("nodeType").GetString()!);
        body["layerIndex"] = autoencoder.GetProperty("layers")[0].GetInt32();
        body["autoencoder"] = autoencoder.GetProperty("name").GetString();
        return body;
    }

    private static async Task<string> DetailAsync(HttpResponseMessage response, HttpStatusCode status, string field) =>
        (await response.AssertProblemAsync(status, field)).GetProperty("detail").GetString()!;

    [Fact]
    public async Task AResidualWithZeroTokensIsA422NamingItsShape()
    {
        using var response = await service.Client.PostJsonAsync("/v1/activations", Request("mlp_neuron", tokens: 0));
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "residual.shape");
        Assert.Contains($"[0, {service.DModel}]", detail);
    }

    [Fact]
    public async Task AForwardPassWithZeroTokensIsA422NamingTokens()
    {
        using var response = await service.Client.PostJsonAsync("/v1/forward", new JsonObject { ["tokens"] = new JsonArray() });
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "tokens");
        Assert.Contains("got 0", detail);
    }

    [Fact]
    public async Task MoreTokensThanTheContextWindowIsA422GivingTheWindow()
    {
        using var response = await service.Client.PostJsonAsync("/v1/activations", Request("attention_head", tokens: service.NCtx + 1));
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "residual.shape");
        Assert.Contains($"n_ctx ({service.NCtx})", detail);
        Assert.Contains($"[{service.NCtx + 1}, {service.DModel}]", detail);
    }

    [Fact]
    public async Task AForwardPassLongerThanTheContextWindowIsA422NamingTokens()
    {
        var tokens = new JsonArray();
        for (var i = 0; i <= service.NCtx; i++) tokens.Add(1);
        using var response = await service.Client.PostJsonAsync("/v1/forward", new JsonObject { ["tokens"] = tokens });
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "tokens");
        Assert.Contains($"got {service.NCtx + 1}", detail);
    }

    [Fact]
    public async Task NaNAndInfinityInTheResidualAreA422WithTheCountAndFirstPosition()
    {
        var values = new float[3 * service.DModel];
        values[service.DModel + 2] = float.NaN;
        values[2 * service.DModel] = float.PositiveInfinity;
        using var response = await service.Client.PostJsonAsync("/v1/activations", Request("mlp_neuron", values: values));
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "residual.data");
        Assert.Contains("2 NaN or infinite", detail);
        Assert.Contains("[1, 2]", detail);
    }

    [Fact]
    public async Task AnInfiniteWriteVectorIsA422NamingIt()
    {
        var body = Request("mlp_neuron");
        var values = new float[3 * service.DModel];
        values[0] = float.NegativeInfinity;
        body["writeVector"] = Wire.Tensor([3, service.DModel], values);
        using var response = await service.Client.PostJsonAsync("/v1/jvp", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "writeVector.data");
        Assert.Contains("1 NaN or infinite", detail);
        Assert.Contains("[0, 0]", detail);
    }

    [Fact]
    public async Task ALayerPastTheLastIsA422GivingTheLayerCount()
    {
        var body = Request("mlp_neuron");
        body["layerIndex"] = service.NLayers;
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "layerIndex");
        Assert.Contains($"({service.NLayers})", detail);
    }

    [Fact]
    public async Task ANegativeLayerIsA422NamingLayerIndex()
    {
        var body = new JsonObject { ["residual"] = Wire.Tensor([3, service.DModel], new float[3 * service.DModel]), ["layerIndex"] = -1 };
        using var response = await service.Client.PostJsonAsync("/v1/resid-deltas/attn", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "layerIndex");
        Assert.Contains("got -1", detail);
    }

    [Fact]
    public async Task ATensorIndexPastTheActivationIsA422NamingWhichIndex()
    {
        var body = Request("mlp_neuron");
        body["tensorIndices"] = new JsonArray(3, 0);
        using var response = await service.Client.PostJsonAsync("/v1/gradients", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "tensorIndices[0]");
        Assert.Contains("got 3", detail);
    }

    [Fact]
    public async Task TheWrongNumberOfTensorIndicesIsA422()
    {
        var body = Request("mlp_neuron");
        body["tensorIndices"] = new JsonArray(0);
        using var response = await service.Client.PostJsonAsync("/v1/gradients", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "tensorIndices");
        Assert.Contains("expected 2 indices", detail);
    }

    [Fact]
    public async Task AGradientAtAMaskedAttentionScoreIsA422()
    {
        var body = Request("attention_head", preOrPost: "pre");
        body["tensorIndices"] = new JsonArray(0, 2, 0); // query 0, key 2: the key comes after the query
        using var response = await service.Client.PostJsonAsync("/v1/gradients", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "tensorIndices");
        Assert.Contains("masked", detail);
    }

    [Fact]
    public async Task AnAttentionHeadWithoutATraceTypeIsA422ListingTheTypes()
    {
        var body = Request("attention_head");
        body.Remove("attentionTraceType");
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "attentionTraceType");
        Assert.Contains("'QK', 'Q' or 'K'", detail);
    }

    [Fact]
    public async Task ATraceTypeOnAnMlpNeuronIsA422()
    {
        var body = Request("mlp_neuron");
        body["attentionTraceType"] = "Q";
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "attentionTraceType");
        Assert.Contains("mlp_neuron", detail);
    }

    [Fact]
    public async Task AnUnknownAutoencoderInTheBodyIsA422ListingTheLoadedOnes()
    {
        var body = await LatentRequestAsync();
        var loaded = body["autoencoder"]!.GetValue<string>();
        body["autoencoder"] = "no-such-autoencoder";
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "autoencoder");
        Assert.Contains(loaded, detail);
    }

    [Fact]
    public async Task AnUnknownAutoencoderInThePathIsA422NamingTheName()
    {
        var body = new JsonObject { ["activations"] = Wire.Tensor([1, 4], new float[4]), ["layerIndex"] = 0 };
        using var response = await service.Client.PostJsonAsync("/v1/autoencoders/nope/latent-gradient", body.Also(b => b["latentIndex"] = 0));
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "name");
        Assert.Contains("'nope'", detail);
    }

    [Fact]
    public async Task ALatentSlicePastTheLatentsIsA422GivingTheirNumber()
    {
        var body = await LatentRequestAsync();
        body["latentSlice"] = new JsonObject { ["start"] = 0, ["stop"] = 1_000_000 };
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "latentSlice");
        Assert.Contains("n_latents", detail);
        Assert.Contains("stop 1000000", detail);
    }

    [Fact]
    public async Task AnEmptyLatentSliceIsA422()
    {
        var body = await LatentRequestAsync();
        body["latentSlice"] = new JsonObject { ["start"] = 5, ["stop"] = 5 };
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "latentSlice");
    }

    [Fact]
    public async Task TheBackwardPassTypeIsA422SayingOnlyForwardWorks()
    {
        var body = Request("mlp_neuron");
        body["passType"] = "backward";
        using var response = await service.Client.PostJsonAsync("/v1/jvp", body.Also(b => b["writeVector"] = Wire.Tensor([3, service.DModel], new float[3 * service.DModel])));
        var detail = await DetailAsync(response, HttpStatusCode.UnprocessableEntity, "passType");
        Assert.Contains("forward", detail);
    }

    [Fact]
    public async Task AnUnknownNodeTypeIsA400ListingEveryNodeType()
    {
        using var response = await service.Client.PostJsonAsync("/v1/gradients", Request("residual_stream").Also(b => b["tensorIndices"] = new JsonArray(0, 0)));
        var detail = await DetailAsync(response, HttpStatusCode.BadRequest, "nodeType");
        foreach (var name in new[] { "attention_head", "mlp_neuron", "autoencoder_latent", "mlp_autoencoder_latent", "attention_autoencoder_latent" })
            Assert.Contains(name, detail);
    }
}
