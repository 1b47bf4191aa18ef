using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ReconService.Api.Limits;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>The bounded queue (429, 503), tokens × batch, metrics and what error bodies leave out.</summary>
public sealed class ReliabilityTests(ReliabilityTests.Service service) : IClassFixture<ReliabilityTests.Service>
{
    /// <summary>One running slot, one waiting place, a short queue timeout and a small token limit.</summary>
    public sealed class Service() : DefaultModelService(new Dictionary<string, string?>
    {
        ["Queue:Concurrency"] = "1",
        ["Queue:Length"] = "1",
        ["Queue:TimeoutSeconds"] = "2",
        ["Queue:RetryAfterSeconds"] = "3",
        ["Limits:MaxTokensPerRequest"] = "64",
    })
    {
        public EngineQueue Queue => Factory.Services.GetRequiredService<EngineQueue>();
    }

    private static int _seed; // static: every request differs, so none is answered from the response cache

    private JsonObject MlpRequest(int tokens = 2)
    {
        var random = new Random(Interlocked.Increment(ref _seed) * 7919 + tokens);
        var values = new float[tokens * service.DModel];
        for (var i = 0; i < values.Length; i++) values[i] = (float)random.NextDouble() - 0.5f;
        return new JsonObject
        {
            ["residual"] = Wire.Tensor([tokens, service.DModel], values),
            ["layerIndex"] = 0,
            ["nodeType"] = "mlp_neuron",
            ["preOrPostAct"] = "post",
        };
    }

    [Fact]
    public async Task AFullQueueAnswers429WithRetryAfterAndTheWaitingRequestStillSucceeds()
    {
        using var held = await service.Queue.EnterAsync(0, CancellationToken.None);
        var waiting = service.Client.PostJsonAsync("/v1/activations", MlpRequest());
        await WaitUntil(() => service.Queue.Statistics().Queued == 1);

        using (var rejected = await service.Client.PostJsonAsync("/v1/activations", MlpRequest()))
        {
            await rejected.AssertProblemAsync(HttpStatusCode.TooManyRequests, "queue");
            Assert.Equal(TimeSpan.FromSeconds(3), rejected.Headers.RetryAfter?.Delta);
        }
        held.Dispose();
        using var served = await waiting;
        var json = await served.OkJsonAsync();
        Assert.Equal(2, Wire.ReadTensor(json.GetProperty("activations")).Shape[0]);
    }

    [Fact]
    public async Task AWaitPastTheQueueTimeoutIsA503WithRetryAfter()
    {
        using var held = await service.Queue.EnterAsync(0, CancellationToken.None);
        using var response = await service.Client.PostJsonAsync("/v1/activations", MlpRequest());
        await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "queue");
        Assert.NotNull(response.Headers.RetryAfter);
    }

    [Fact]
    public async Task TokensTimesBatchOverTheLimitIsA422NamingResidualShape()
    {
        var body = MlpRequest();
        body["residual"] = Wire.Tensor([2, 40, service.DModel], new float[80 * service.DModel]);
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "residual.shape");
        Assert.Contains("Limits:MaxTokensPerRequest", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AHugeShapeWithLittleDataIsRejectedBeforeAnyAllocation()
    {
        var body = MlpRequest();
        body["residual"] = new JsonObject { ["dtype"] = "float32", ["shape"] = new JsonArray(1, 2_000_000_000), ["data"] = "AAAAAA==" };
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "residual.data");
    }

    [Fact]
    public async Task MetricsReportLiveTensorsWorkingSetAndQueueCounts()
    {
        using (await service.Client.PostJsonAsync("/v1/activations", MlpRequest())) { }
        var metrics = await (await service.Client.GetAsync("/v1/metrics")).OkJsonAsync();
        Assert.True(metrics.GetProperty("liveTensors").GetInt64() > 0);
        Assert.True(metrics.GetProperty("workingSetBytes").GetInt64() > 1_000_000);
        var queue = metrics.GetProperty("queue");
        Assert.Equal(1, queue.GetProperty("concurrency").GetInt32());
        Assert.Equal(1, queue.GetProperty("length").GetInt32());
        Assert.True(queue.GetProperty("admitted").GetInt64() >= 1);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 600 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), "the condition did not come true");
    }
}
