using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>The real-input workflow on the default model, and the response cache.</summary>
public sealed class WorkflowTests(WorkflowTests.Service service) : IClassFixture<WorkflowTests.Service>
{
    public sealed class Service : IAsyncLifetime
    {
        public DefaultModelFactory Factory { get; } = new();
        public HttpClient Client { get; private set; } = null!;
        public async Task InitializeAsync() => Client = await Factory.ReadyClientAsync();
        public Task DisposeAsync()
        {
            Factory.Dispose();
            return Task.CompletedTask;
        }
    }

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
        var cache = (Microsoft.Extensions.Caching.Memory.MemoryCache)((ReconService.Api.Caching.ResponseCache)service.Factory.Services
            .GetService(typeof(ReconService.Api.Caching.ResponseCache))!).Cache;
        var info = await (await service.Client.GetAsync("/v1/model")).OkJsonAsync();
        var dModel = info.GetProperty("config").GetProperty("dModel").GetInt32();
        var values = Enumerable.Range(0, 2 * dModel).Select(i => MathF.Sin(i * 0.37f + 11f)).ToArray();
        var body = new JsonObject { ["residual"] = Wire.Tensor([2, dModel], values), ["layerIndex"] = 0 };

        var before = cache.Count;
        var first = await (await service.Client.PostJsonAsync("/v1/resid-deltas/mlp", body)).OkJsonAsync();
        var afterFirst = cache.Count;
        var second = await (await service.Client.PostJsonAsync("/v1/resid-deltas/mlp", body)).OkJsonAsync();
        Assert.Equal(before + 1, afterFirst);
        Assert.Equal(afterFirst, cache.Count);
        Assert.Equal(first.GetRawText(), second.GetRawText());
    }
}
