using System.Diagnostics;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using ReconService.Api.Diagnostics;

namespace ReconService.Api.Limits;

/// <summary>
/// The bounded queue in front of the engine: <see cref="QueueOptions.Concurrency"/> requests run, up to
/// <see cref="QueueOptions.Length"/> wait (oldest first), the rest get 429 with <c>Retry-After</c>. The wait
/// observes <c>HttpContext.RequestAborted</c> (a client that leaves gives up its place) and
/// <see cref="QueueOptions.TimeoutSeconds"/> (503). The endpoint's tensor work then runs synchronously inside the permit.
/// </summary>
public sealed class EngineQueue : IDisposable
{
    private readonly ConcurrencyLimiter _limiter;
    private readonly ReconMetrics? _metrics;
    private long _timedOut;
    private long _abandoned;

    public EngineQueue(IOptions<QueueOptions> options, ReconMetrics? metrics = null)
    {
        Options = options.Value;
        _metrics = metrics;
        _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = Options.Concurrency,
            QueueLimit = Options.Length,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>The configured limits.</summary>
    public QueueOptions Options { get; }

    /// <summary>Counts for <c>/v1/metrics</c>.</summary>
    public QueueStatistics Statistics()
    {
        var s = _limiter.GetStatistics();
        return new QueueStatistics(Options.Concurrency, Options.Length, Running(s),
            (int)(s?.CurrentQueuedCount ?? 0), s?.TotalSuccessfulLeases ?? 0, s?.TotalFailedLeases ?? 0,
            Interlocked.Read(ref _timedOut), Interlocked.Read(ref _abandoned));
    }

    /// <summary>Requests holding a slot now: the permits taken.</summary>
    private int Running(RateLimiterStatistics? statistics) => Options.Concurrency - (int)(statistics?.CurrentAvailablePermits ?? 0);

    /// <summary>Takes a slot directly (tests hold one to fill the queue); dispose the lease to give it back.</summary>
    public ValueTask<RateLimitLease> AcquireAsync(CancellationToken cancellationToken) => _limiter.AcquireAsync(1, cancellationToken);

    /// <summary>Runs <paramref name="next"/> once a slot is free; 429, 503 or an empty answer (client gone) otherwise.</summary>
    public async ValueTask<object?> RunAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        deadline.CancelAfter(TimeSpan.FromSeconds(Options.TimeoutSeconds));
        var arrived = Stopwatch.GetTimestamp();
        RateLimitLease lease;
        try
        {
            lease = await _limiter.AcquireAsync(1, deadline.Token);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            _metrics?.RecordQueueWait(Stopwatch.GetElapsedTime(arrived), ReconMetrics.QueueOutcome.Abandoned);
            Interlocked.Increment(ref _abandoned);
            return Results.Empty;
        }
        catch (OperationCanceledException)
        {
            _metrics?.RecordQueueWait(Stopwatch.GetElapsedTime(arrived), ReconMetrics.QueueOutcome.TimedOut);
            Interlocked.Increment(ref _timedOut);
            http.Response.Headers.RetryAfter = Options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return LimitProblem.Create(StatusCodes.Status503ServiceUnavailable, "queue",
                $"no engine slot became free within {Options.TimeoutSeconds} s (Queue:TimeoutSeconds); retry later");
        }
        using (lease)
        {
            if (!lease.IsAcquired)
            {
                _metrics?.RecordQueueWait(Stopwatch.GetElapsedTime(arrived), ReconMetrics.QueueOutcome.Rejected);
                http.Response.Headers.RetryAfter = Options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return LimitProblem.Create(StatusCodes.Status429TooManyRequests, "queue",
                    $"the engine queue is full ({Options.Concurrency} running, {Options.Length} waiting; Queue:Concurrency, Queue:Length); retry later");
            }
            if (http.RequestAborted.IsCancellationRequested)
            {
                _metrics?.RecordQueueWait(Stopwatch.GetElapsedTime(arrived), ReconMetrics.QueueOutcome.Abandoned);
                Interlocked.Increment(ref _abandoned);
                return Results.Empty;
            }
            _metrics?.RecordQueueWait(Stopwatch.GetElapsedTime(arrived), ReconMetrics.QueueOutcome.Admitted);
            // The endpoint's tensor work runs synchronously inside next, on this thread: set its intra-op threads here.
            IntraOpThreads.Apply(ThreadsForThisRequest());
            var started = Stopwatch.GetTimestamp();
            try
            {
                return await next(context);
            }
            finally
            {
                _metrics?.RecordEngineTime(http.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName ?? "unknown",
                    Stopwatch.GetElapsedTime(started));
            }
        }
    }

    /// <summary>
    /// Intra-op threads for a request that has just taken its slot: <see cref="QueueOptions.IntraOpThreads"/> when set,
    /// else the cores divided by the requests running now (this one included), at least 1.
    /// </summary>
    public int ThreadsForThisRequest()
    {
        if (Options.IntraOpThreads > 0) return Options.IntraOpThreads;
        return Math.Max(1, Environment.ProcessorCount / Math.Max(1, Running(_limiter.GetStatistics())));
    }

    public void Dispose() => _limiter.Dispose();
}

/// <summary>Queue counts: slots, waiting, leases granted and refused, waits timed out or abandoned by the client.</summary>
public sealed record QueueStatistics(int Concurrency, int Length, int Running, int Queued, long Admitted, long Rejected, long TimedOut, long Abandoned);

/// <summary>Problem details for the limits, naming the field (<c>queue</c>, <c>residual.shape</c>, …).</summary>
public static class LimitProblem
{
    /// <summary>A problem result with a title for the status.</summary>
    public static IResult Create(int status, string field, string message) =>
        TypedResults.Problem(
            detail: $"{field}: {message}",
            statusCode: status,
            title: status switch
            {
                StatusCodes.Status429TooManyRequests => "Too many requests",
                StatusCodes.Status503ServiceUnavailable => "Service busy",
                StatusCodes.Status422UnprocessableEntity => "The model cannot serve this request",
                _ => "Malformed request",
            },
            extensions: new Dictionary<string, object?> { ["field"] = field });
}
