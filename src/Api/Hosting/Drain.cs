using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using ReconService.Api.Errors;
using ReconService.Api.Limits;

namespace ReconService.Api.Hosting;

/// <summary><c>Drain</c>: what happens on SIGTERM (or Ctrl+C) before the process stops listening.</summary>
public sealed class DrainOptions
{
    public const string Section = "Drain";

    /// <summary>
    /// Longest wait, in seconds, for the engine requests already accepted (running, queued, or being read or written) to
    /// finish after SIGTERM; 0 stops at once. Keep it under the orchestrator's grace period (Kubernetes
    /// <c>terminationGracePeriodSeconds</c> minus any preStop sleep; docker's <c>stop_grace_period</c>).
    /// </summary>
    [Range(0, 3600)]
    public int TimeoutSeconds { get; set; } = 30;
}

/// <summary>
/// The drain: from <see cref="Begin"/> on, readiness is 503 and new engine requests are refused (503 with
/// <c>Retry-After</c>), while those that entered before finish. Engine requests enter through <see cref="Enter"/> at the
/// start of the pipeline and leave when their answer is written.
/// </summary>
public sealed class DrainState(IOptions<QueueOptions> queue)
{
    private int _inFlight;
    private volatile bool _draining;
    private TaskCompletionSource _idle = NewIdle();

    /// <summary>Whether the drain has begun.</summary>
    public bool IsDraining => _draining;

    /// <summary>Engine requests entered and not yet answered.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Admits one engine request; dispose the result when its answer is written.</summary>
    /// <exception cref="ProblemException">503 with <c>Retry-After</c>: the service is draining.</exception>
    public IDisposable Enter()
    {
        // Counted before the check, so a drain that begins in between sees this request and waits for it.
        Interlocked.Increment(ref _inFlight);
        if (_draining)
        {
            Leave();
            throw new ProblemException(StatusCodes.Status503ServiceUnavailable, "service",
                "the service is shutting down (draining its running requests); retry, another replica will answer")
            {
                Headers = new Dictionary<string, string> { ["Retry-After"] = queue.Value.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture) },
            };
        }
        return new Ticket(this);
    }

    /// <summary>Starts the drain (idempotent).</summary>
    public void Begin()
    {
        _draining = true;
        if (InFlight == 0) _idle.TrySetResult();
    }

    /// <summary>Completes once the drain has begun and no engine request is in flight.</summary>
    public Task Idle => _idle.Task;

    private void Leave()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0 && _draining) _idle.TrySetResult();
    }

    private static TaskCompletionSource NewIdle() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Ticket(DrainState drain) : IDisposable
    {
        private int _left;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0) drain.Leave();
        }
    }
}

/// <summary>
/// Runs the drain when the host stops, before the server stops listening: <see cref="IHostedLifecycleService.StoppingAsync"/>
/// runs before any hosted service's <c>StopAsync</c> (Kestrel's included), so the process keeps accepting connections,
/// answering readiness and new engine requests with 503, until the requests in flight are answered or
/// <see cref="DrainOptions.TimeoutSeconds"/> has passed. The host's shutdown timeout is set to the drain's plus 5 s.
/// </summary>
public sealed partial class DrainService(DrainState drain, IOptions<DrainOptions> options, ILogger<DrainService> logger) : IHostedLifecycleService
{
    /// <inheritdoc />
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        drain.Begin();
        var timeout = TimeSpan.FromSeconds(options.Value.TimeoutSeconds);
        LogDraining(logger, drain.InFlight, options.Value.TimeoutSeconds);
        try
        {
            await drain.Idle.WaitAsync(timeout, cancellationToken);
            LogDrained(logger, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            LogDrainTimedOut(logger, drain.InFlight, options.Value.TimeoutSeconds);
        }
    }

    /// <inheritdoc />
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 30, Level = LogLevel.Information,
        Message = "Draining: readiness 503, new engine requests 503; waiting for {InFlight} engine requests in flight (at most {TimeoutSeconds} s, Drain:TimeoutSeconds)")]
    private static partial void LogDraining(ILogger logger, int inFlight, int timeoutSeconds);

    [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "Drained in {ElapsedMs} ms; stopping")]
    private static partial void LogDrained(ILogger logger, long elapsedMs);

    [LoggerMessage(EventId = 32, Level = LogLevel.Warning,
        Message = "Drain timed out after {TimeoutSeconds} s (Drain:TimeoutSeconds) with {InFlight} engine requests in flight; stopping")]
    private static partial void LogDrainTimedOut(ILogger logger, int inFlight, int timeoutSeconds);
}

/// <summary>Readiness is unhealthy while draining, so load balancers and Kubernetes stop sending new requests.</summary>
public sealed class DrainReadinessCheck(DrainState drain) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(drain.IsDraining ? HealthCheckResult.Unhealthy("draining") : HealthCheckResult.Healthy());
}

/// <summary>Registers the drain.</summary>
public static class DrainRegistration
{
    /// <summary>Binds <c>Drain</c>; registers <see cref="DrainState"/> and <see cref="DrainService"/>; sets the host's shutdown timeout to the drain's plus 5 s.</summary>
    public static IServiceCollection AddReconDrain(this IServiceCollection services)
    {
        services.AddOptions<DrainOptions>().BindConfiguration(DrainOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<DrainState>();
        services.AddHostedService<DrainService>();
        services.AddOptions<HostOptions>().Configure<IOptions<DrainOptions>>((host, drain) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(drain.Value.TimeoutSeconds + 5));
        return services;
    }
}
