using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ReconService.Api.Diagnostics;
using ReconService.Api.Limits;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Diagnostics;

/// <summary>The service's meter (<see cref="ReconMetrics"/>) and the Prometheus endpoint at <c>/metrics</c>.</summary>
public sealed class MetricsTests
{
    /// <summary>
    /// Collects the measurements of one host's <c>ReconService</c> meter (by the host's meter factory, so hosts of other tests
    /// running in parallel are not seen): instrument name → (value, tags) in order.
    /// </summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        public ConcurrentDictionary<string, ConcurrentQueue<(double Value, Dictionary<string, string?> Tags)>> Seen { get; } = new();

        public Recorder(IServiceProvider services)
        {
            var factory = services.GetRequiredService<IMeterFactory>();
            services.GetRequiredService<ReconMetrics>();   // the meter exists from here on
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == ReconMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
            _listener.Start();
        }

        private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = new Dictionary<string, string?>();
            foreach (var (k, v) in tags) copy[k] = v?.ToString();
            Seen.GetOrAdd(instrument.Name, _ => new()).Enqueue((value, copy));
        }

        public List<(double Value, Dictionary<string, string?> Tags)> Of(string instrument) =>
            Seen.TryGetValue(instrument, out var q) ? q.ToList() : [];

        public void Observe() => _listener.RecordObservableInstruments();

        public void Dispose() => _listener.Dispose();
    }

    private static JsonObject Body(int tokens = 3) => new()
    {
        ["residual"] = Wire.Tensor([tokens, 8], new float[tokens * 8]),
        ["layerIndex"] = 0,
        ["nodeType"] = "mlp_neuron",
        ["preOrPostAct"] = "post",
    };

    [Fact]
    public async Task AnEngineRequestRecordsItsQueueWaitAndEngineTimeByOperation()
    {
        using var factory = new BlockingEngineFactory(new() { ["Cache:Enabled"] = "false" });
        factory.Engine.Release.Set();
        using var client = await factory.ReadyClientAsync();
        using var recorder = new Recorder(factory.Services);

        using var response = await client.PostJsonAsync("/v1/activations", Body());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var wait = Assert.Single(recorder.Of("recon.queue.wait.duration"));
        Assert.Equal("admitted", wait.Tags["outcome"]);
        Assert.InRange(wait.Value, 0, 60);
        var engine = Assert.Single(recorder.Of("recon.engine.duration"));
        Assert.Equal("activations", engine.Tags["operation"]);
        Assert.InRange(engine.Value, 0, 60);
    }

    [Fact]
    public async Task AFullQueueIsRecordedAsARejectedWaitAndTheQueueIsObserved()
    {
        using var factory = new BlockingEngineFactory(new()
        {
            ["Cache:Enabled"] = "false", ["Queue:Concurrency"] = "1", ["Queue:Length"] = "1", ["Queue:TimeoutSeconds"] = "30",
        });
        using var client = await factory.ReadyClientAsync();
        using var recorder = new Recorder(factory.Services);
        var queue = factory.Services.GetRequiredService<EngineQueue>();

        var running = client.PostJsonAsync("/v1/activations", Body());
        Assert.True(factory.Engine.Entered.Wait(TimeSpan.FromSeconds(30)));
        var waiting = client.PostJsonAsync("/v1/activations", Body(4));
        for (var i = 0; i < 300 && queue.Statistics().Queued < 1; i++) await Task.Delay(20);
        using (var rejected = await client.PostJsonAsync("/v1/activations", Body(5)))
            Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);

        recorder.Observe();
        Assert.Equal(1, recorder.Of("recon.queue.running").Last().Value);
        Assert.Equal(1, recorder.Of("recon.queue.queued").Last().Value);
        Assert.Equal(["admitted", "rejected"], recorder.Of("recon.queue.wait.duration").Select(m => m.Tags["outcome"]));

        factory.Engine.Release.Set();
        using (var first = await running) Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using (var second = await waiting) Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(["admitted", "admitted", "rejected"],
            recorder.Of("recon.queue.wait.duration").Select(m => m.Tags["outcome"]!).Order());
        recorder.Observe();
        Assert.Equal(0, recorder.Of("recon.queue.running").Last().Value);
        Assert.Equal(0, recorder.Of("recon.queue.queued").Last().Value);
        Assert.True(recorder.Of("recon.engine.live_tensors").Last().Value >= 0);
    }

    [Fact]
    public async Task AWaitThatTimesOutIsRecordedAsTimedOut()
    {
        using var factory = new BlockingEngineFactory(new()
        {
            ["Cache:Enabled"] = "false", ["Queue:Concurrency"] = "1", ["Queue:Length"] = "1", ["Queue:TimeoutSeconds"] = "1",
        });
        using var client = await factory.ReadyClientAsync();
        using var recorder = new Recorder(factory.Services);

        var running = client.PostJsonAsync("/v1/activations", Body());
        Assert.True(factory.Engine.Entered.Wait(TimeSpan.FromSeconds(30)));
        using (var late = await client.PostJsonAsync("/v1/activations", Body(4)))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, late.StatusCode);
        factory.Engine.Release.Set();
        using (var first = await running) Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        Assert.Equal(["admitted", "timed_out"], recorder.Of("recon.queue.wait.duration").Select(m => m.Tags["outcome"]!).Order());
    }

    [Fact]
    public async Task TheCacheStepAndTheMemoryBudgetAreRecordedFromRealRequests()
    {
        using var factory = new BlockingEngineFactory(new() { ["Limits:MaxEngineMemoryBytes"] = "1048576" });
        using var client = await factory.ReadyClientAsync();
        using var recorder = new Recorder(factory.Services);

        var running = client.PostJsonAsync("/v1/activations", Body());
        Assert.True(factory.Engine.Entered.Wait(TimeSpan.FromSeconds(30)));
        recorder.Observe();
        Assert.Equal(1024, recorder.Of("recon.memory_budget.in_use").Last().Value);   // BlockingEngine plans 1 KiB
        Assert.Equal(1 << 20, recorder.Of("recon.memory_budget.limit").Last().Value);

        factory.Engine.Release.Set();
        using (var first = await running) Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using (var again = await client.PostJsonAsync("/v1/activations", Body()))
            Assert.Equal("hit", again.Headers.GetValues("X-Cache").Single());
        recorder.Observe();
        Assert.Equal(0, recorder.Of("recon.memory_budget.in_use").Last().Value);
        Assert.Equal([("activations", "miss"), ("activations", "hit")],
            recorder.Of("recon.cache.lookups").Select(m => (m.Tags["operation"], m.Tags["result"])));
        Assert.Empty(recorder.Of("recon.cache.errors"));   // no Redis configured: nothing to fail
        Assert.Single(recorder.Of("recon.engine.duration"));  // the hit never reached the engine
    }

    [Fact]
    public async Task TheObservedInstrumentsAreExportedBeforeAnyEngineRequest()
    {
        using var factory = new BlockingEngineFactory([]);
        using var client = await factory.ReadyClientAsync();
        var text = await client.GetStringAsync("/metrics");
        Assert.Contains("\nrecon_queue_queued", text);
        Assert.Contains("\nrecon_queue_running", text);
        Assert.Contains("\nrecon_engine_live_tensors", text);
    }

    [Fact]
    public async Task PrometheusEndpointExportsTheServiceRuntimeAndAspNetCoreMetrics()
    {
        using var factory = new BlockingEngineFactory([]);
        factory.Engine.Release.Set();
        using var client = await factory.ReadyClientAsync();
        for (var i = 0; i < 2; i++)   // a miss, then a hit
            using (var response = await client.PostJsonAsync("/v1/activations", Body()))
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        using var scrape = await client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.Equal("text/plain", scrape.Content.Headers.ContentType?.MediaType);
        var lines = (await scrape.Content.ReadAsStringAsync()).Split('\n');

        // Other tests' hosts may share the process's meters, so counts are at least, not exactly, this test's.
        static bool Has(string[] lines, string name, params string[] labels) => lines.Any(l =>
            l.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(l.Contains) && double.Parse(l[(l.LastIndexOf(' ') + 1)..],
                System.Globalization.CultureInfo.InvariantCulture) >= 1);
        Assert.True(Has(lines, "recon_engine_duration_seconds_count", "operation=\"activations\""));
        Assert.True(Has(lines, "recon_queue_wait_duration_seconds_count", "outcome=\"admitted\""));
        Assert.True(Has(lines, "recon_cache_lookups_total", "operation=\"activations\"", "result=\"hit\""));
        Assert.True(Has(lines, "http_server_request_duration_seconds_count", "http_route=\"/v1/activations\""));
        Assert.Contains(lines, l => l.StartsWith("recon_engine_live_tensors", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("recon_queue_queued", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("recon_memory_budget_in_use_bytes", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("recon_memory_budget_limit_bytes", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("dotnet_gc_", StringComparison.Ordinal));

        // The JSON summary stays beside it.
        var summary = await (await client.GetAsync("/v1/metrics")).OkJsonAsync();
        Assert.True(summary.GetProperty("liveTensors").GetInt64() >= 0);
    }
}
