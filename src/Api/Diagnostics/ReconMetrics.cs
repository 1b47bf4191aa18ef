using System.Diagnostics.Metrics;
using ReconService.Api.Hosting;
using ReconService.Api.Limits;

namespace ReconService.Api.Diagnostics;

/// <summary>
/// The service's own instruments, all on one <see cref="Meter"/> named <see cref="MeterName"/> and all declared here.
/// Exported with ASP.NET Core's and the runtime's at <c>/metrics</c> (Prometheus text; <see cref="TelemetryRegistration"/>).
/// Prometheus names in brackets: units become suffixes (<c>_seconds</c>, <c>_bytes</c>), counters end in <c>_total</c>.
/// <list type="bullet">
/// <item><c>recon.queue.queued</c> [<c>recon_queue_queued</c>], <c>recon.queue.running</c> [<c>recon_queue_running</c>]:
/// engine requests waiting for a slot and holding one, observed at each collection.</item>
/// <item><c>recon.queue.wait.duration</c> [<c>recon_queue_wait_duration_seconds</c>] by <c>outcome</c>
/// (<c>admitted</c>, <c>rejected</c>, <c>timed_out</c>, <c>abandoned</c>): time from arrival at the queue to that outcome.</item>
/// <item><c>recon.engine.duration</c> [<c>recon_engine_duration_seconds</c>] by <c>operation</c> (the endpoint's name:
/// <c>activations</c>, <c>gradients</c>, …): time holding an engine slot.</item>
/// <item><c>recon.engine.live_tensors</c> [<c>recon_engine_live_tensors</c>]: undisposed TorchSharp tensors (absent while loading).</item>
/// <item><c>recon.cache.lookups</c> [<c>recon_cache_lookups_total</c>] by <c>operation</c> and <c>result</c> (<c>hit</c>,
/// <c>miss</c>); <c>recon.cache.errors</c> [<c>recon_cache_errors_total</c>] by <c>operation</c> and <c>action</c>
/// (<c>get</c>, <c>set</c>): failures of the shared cache store, after which the answer is computed anyway.</item>
/// <item><c>recon.memory_budget.in_use</c> [<c>recon_memory_budget_in_use_bytes</c>]: planned working memory reserved by
/// the requests running now; <c>recon.memory_budget.limit</c> [<c>recon_memory_budget_limit_bytes</c>]: the budget
/// (<c>Limits:MaxEngineMemoryBytes</c>); both observed from the queue at each collection.</item>
/// </list>
/// Recorded by the request path: the queue (<see cref="EngineQueue"/>) records each wait, the pipeline the engine time
/// (<c>Pipeline/EnginePipeline.cs</c>), the cache step the lookups (<c>Caching/AnswerCache.cs</c>) and the Redis store
/// its failures (<c>Caching/SharedAnswerStore.cs</c>); the rest is observed.
/// </summary>
public sealed class ReconMetrics
{
    /// <summary>Name of the service's meter (and of the service in exported telemetry).</summary>
    public const string MeterName = "ReconService";

    /// <summary>Outcomes of a wait in the engine queue (<c>outcome</c> of <c>recon.queue.wait.duration</c>).</summary>
    public static class QueueOutcome
    {
        /// <summary>The request got a slot.</summary>
        public const string Admitted = "admitted";
        /// <summary>The queue was full (429).</summary>
        public const string Rejected = "rejected";
        /// <summary>No slot within <c>Queue:TimeoutSeconds</c> (503).</summary>
        public const string TimedOut = "timed_out";
        /// <summary>The client left while waiting.</summary>
        public const string Abandoned = "abandoned";
    }

    // Seconds, from a 1 ms activation to a minute-long queue timeout (OpenTelemetry's default buckets are for milliseconds).
    private static readonly double[] SecondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _engineTime;
    private readonly Counter<long> _cacheLookups;
    private readonly Counter<long> _cacheErrors;

    /// <summary>
    /// Creates the meter and its instruments. The queue and the engine are observed through <paramref name="services"/>
    /// when metrics are collected, so that the queue can itself record into this class.
    /// </summary>
    public ReconMetrics(IMeterFactory meterFactory, IServiceProvider services)
    {
        var meter = meterFactory.Create(MeterName);
        var advice = new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets };
        _queueWait = meter.CreateHistogram("recon.queue.wait.duration", "s",
            "Time engine requests spent in the queue, by outcome (admitted, rejected, timed_out, abandoned)", advice: advice);
        _engineTime = meter.CreateHistogram("recon.engine.duration", "s",
            "Time engine requests held an engine slot, by operation (the endpoint's name)", advice: advice);
        _cacheLookups = meter.CreateCounter<long>("recon.cache.lookups", "{lookup}",
            "Response cache lookups of cacheable requests, by operation and result (hit, miss)");
        _cacheErrors = meter.CreateCounter<long>("recon.cache.errors", "{error}",
            "Shared cache store (Redis) calls that failed, or were skipped while it was failing; the answer is then computed. By operation and action (get, set)");

        meter.CreateObservableUpDownCounter("recon.queue.queued", () => (long)(Queue(services)?.Queued ?? 0), "{request}",
            "Engine requests waiting for a slot");
        meter.CreateObservableUpDownCounter("recon.queue.running", () => (long)(Queue(services)?.Running ?? 0), "{request}",
            "Engine requests holding a slot");
        meter.CreateObservableGauge("recon.engine.live_tensors", () => LiveTensors(services), "{tensor}",
            "Undisposed TorchSharp tensors in the process");
        meter.CreateObservableUpDownCounter("recon.memory_budget.in_use", () => Queue(services)?.ReservedBytes ?? 0, "By",
            "Planned working memory reserved by the engine requests running now");
        meter.CreateObservableGauge("recon.memory_budget.limit", () => Queue(services)?.BudgetBytes ?? 0, "By",
            "The engine memory budget (Limits:MaxEngineMemoryBytes)");
    }

    /// <summary>Records a wait in the engine queue that ended in <paramref name="outcome"/> (a <see cref="QueueOutcome"/> value).</summary>
    public void RecordQueueWait(TimeSpan wait, string outcome) =>
        _queueWait.Record(wait.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>Records the time one request of <paramref name="operation"/> held an engine slot.</summary>
    public void RecordEngineTime(string operation, TimeSpan elapsed) =>
        _engineTime.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("operation", operation));

    /// <summary>Counts a response cache lookup for <paramref name="operation"/>: a hit (answered from the cache) or a miss (computed).</summary>
    public void RecordCacheLookup(string operation, bool hit) =>
        _cacheLookups.Add(1, new KeyValuePair<string, object?>("operation", operation),
            new KeyValuePair<string, object?>("result", hit ? "hit" : "miss"));

    /// <summary>Counts a failed read (<paramref name="action"/> <c>get</c>) or write (<c>set</c>) of the shared cache store.</summary>
    public void RecordCacheError(string operation, string action) =>
        _cacheErrors.Add(1, new KeyValuePair<string, object?>("operation", operation),
            new KeyValuePair<string, object?>("action", action));

    private static QueueStatistics? Queue(IServiceProvider services) => services.GetService<EngineQueue>()?.Statistics();

    private static IEnumerable<Measurement<long>> LiveTensors(IServiceProvider services)
    {
        var host = services.GetService<EngineHost>();
        return host is { IsReady: true } ? [new Measurement<long>(host.Engine.LiveTensorCount)] : [];
    }
}
