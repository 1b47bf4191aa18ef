using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>The real-input workflow on the default model, and the response cache.</summary>
[Collection(DefaultModel.Name)]
public sealed class WorkflowTests(DefaultModelService service)
{
    private static JsonElement Captured(JsonElement forward, string location, int layer) =>
        forward.GetProperty("captured").EnumerateArray()
            .Single(c => c.GetProperty("location").GetString() == location && c.GetProperty("layer").GetInt32() == layer)
            .GetProperty("tensor");

    [Fact]
    public async Task MlpActivationsFromTheCapturedResidualMatchTheCapturedActivations()
    {
        var forward = await (await service.Client.PostJsonAsync("/v1/forward", new JsonObject
        {
            ["prompt"] = "In the beginning God created the heaven and the earth.",
            ["capture"] = new JsonArray("resid.post_attn", "mlp.post_act"),
            ["layers"] = new JsonArray(1),
        })).OkJsonAsync();
        var tokens = forward.GetProperty("tokens").GetArrayLength();
        Assert.Equal(tokens, forward.GetProperty("tokenStrings").GetArrayLength());
        Assert.Equal(tokens, forward.GetProperty("topPredictions").GetArrayLength());

        var residual = Captured(forward, "resid.post_attn", 1);
        var (_, captured) = Wire.ReadTensor(Captured(forward, "mlp.post_act", 1));
        var activations = await (await service.Client.PostJsonAsync("/v1/activations", new JsonObject
        {
            ["residual"] = JsonNode.Parse(residual.GetRawText()),
            ["layerIndex"] = 1,
            ["nodeType"] = "mlp_neuron",
            ["preOrPostAct"] = "post",
            ["outputEncoding"] = "list",
        })).OkJsonAsync();
        Assert.Equal(JsonValueKind.Array, activations.GetProperty("activations").GetProperty("data").ValueKind);
        var (shape, recomputed) = Wire.ReadTensor(activations.GetProperty("activations"));
        Assert.Equal(tokens, shape[0]);
        for (var i = 0; i < captured.Length; i++)
            Assert.True(Math.Abs(captured[i] - recomputed[i]) <= 1e-4 + 1e-4 * Math.Abs(captured[i]), $"element {i}: {recomputed[i]} vs {captured[i]}");
    }

    [Fact]
    public async Task ModelInfoDescribesTheDefaultModelAndItsAutoencoders()
    {
        var info = await (await service.Client.GetAsync("/v1/model")).OkJsonAsync();
        var config = info.GetProperty("config");
        Assert.Equal(config.GetProperty("dModel").GetInt32(), config.GetProperty("nHeads").GetInt32() * config.GetProperty("dHead").GetInt32());
        var ae = info.GetProperty("autoencoders").EnumerateArray().Single();
        Assert.Equal("mlp_post_act", ae.GetProperty("name").GetString());
        Assert.Equal("mlp.post_act", ae.GetProperty("inputType").GetString());
        Assert.Equal(config.GetProperty("dFf").GetInt32(), ae.GetProperty("nInputs").GetInt32());
        Assert.Equal(config.GetProperty("nLayers").GetInt32(), ae.GetProperty("layers").GetArrayLength());
    }

    [Fact]
    public async Task AnIdenticalRequestIsAnsweredFromTheCache()
    {
        var info = await (await service.Client.GetAsync("/v1/model")).OkJsonAsync();
        var dModel = info.GetProperty("config").GetProperty("dModel").GetInt32();
        var values = Enumerable.Range(0, 2 * dModel).Select(i => MathF.Sin(i * 0.37f + 11f)).ToArray();
        var body = new JsonObject { ["residual"] = Wire.Tensor([2, dModel], values), ["layerIndex"] = 0 };

        using var first = await service.Client.PostJsonAsync("/v1/resid-deltas/mlp", body);
        using var second = await service.Client.PostJsonAsync("/v1/resid-deltas/mlp", body);
        Assert.Equal("miss", first.Headers.GetValues("X-Cache").Single());
        Assert.Equal("hit", second.Headers.GetValues("X-Cache").Single());
        Assert.Equal((await first.OkJsonAsync()).GetRawText(), (await second.OkJsonAsync()).GetRawText());
    }

    private async Task<(JsonElement Residual, int Tokens)> CaptureAsync(string location, int layer)
    {
        var forward = await (await service.Client.PostJsonAsync("/v1/forward", new JsonObject
        {
            ["prompt"] = "Blessed are the meek: for they shall inherit the earth.",
            ["capture"] = new JsonArray(location),
            ["layers"] = new JsonArray(layer),
        })).OkJsonAsync();
        return (Captured(forward, location, layer), forward.GetProperty("tokens").GetArrayLength());
    }

    [Fact]
    public async Task ALatentSliceReturnsThoseColumnsOfTheFullLatents()
    {
        var (residual, _) = await CaptureAsync("resid.post_attn", 2);
        JsonObject Body(bool slice)
        {
            var body = new JsonObject
            {
                ["residual"] = JsonNode.Parse(residual.GetRawText()),
                ["layerIndex"] = 2,
                ["nodeType"] = "mlp_autoencoder_latent",
                ["preOrPostAct"] = "post",
                ["autoencoder"] = "mlp_post_act",
            };
            if (slice) body["latentSlice"] = new JsonObject { ["start"] = 100, ["stop"] = 164 };
            return body;
        }
        var (fullShape, full) = Wire.ReadTensor((await (await service.Client.PostJsonAsync("/v1/activations", Body(false))).OkJsonAsync()).GetProperty("activations"));
        var (sliceShape, part) = Wire.ReadTensor((await (await service.Client.PostJsonAsync("/v1/activations", Body(true))).OkJsonAsync()).GetProperty("activations"));
        Assert.Equal(new[] { fullShape[0], 64L }, sliceShape);
        var width = (int)fullShape[1];
        for (var t = 0; t < fullShape[0]; t++)
            for (var j = 0; j < 64; j++)
                Assert.True(Math.Abs(full[t * width + 100 + j] - part[t * 64 + j]) <= 1e-5f + 1e-4f * Math.Abs(full[t * width + 100 + j]), $"token {t}, latent {100 + j}");
        Assert.Contains(full, v => v > 0);
    }

    [Fact]
    public async Task ABatchOfResidualsGivesOneResultPerSequence()
    {
        var (residual, tokens) = await CaptureAsync("resid.post_attn", 0);
        var (shape, values) = Wire.ReadTensor(residual);
        var scaled = values.Select(v => v * 0.5f).ToArray();
        var batch = Wire.Tensor([2, shape[0], shape[1]], values.Concat(scaled).ToArray());
        JsonObject Body(JsonNode r) => new() { ["residual"] = r, ["layerIndex"] = 0 };

        var (batchShape, batchOut) = Wire.ReadTensor((await (await service.Client.PostJsonAsync("/v1/resid-deltas/mlp", Body(batch))).OkJsonAsync()).GetProperty("residDelta"));
        var (_, first) = Wire.ReadTensor((await (await service.Client.PostJsonAsync("/v1/resid-deltas/mlp", Body(Wire.Tensor(shape, values)))).OkJsonAsync()).GetProperty("residDelta"));
        var (_, second) = Wire.ReadTensor((await (await service.Client.PostJsonAsync("/v1/resid-deltas/mlp", Body(Wire.Tensor(shape, scaled)))).OkJsonAsync()).GetProperty("residDelta"));
        Assert.Equal(new[] { 2L, tokens, shape[1] }, batchShape);
        var expected = first.Concat(second).ToArray();
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - batchOut[i]) <= 1e-5f + 1e-4f * Math.Abs(expected[i]), $"element {i}: {batchOut[i]} vs {expected[i]}");
    }
}
