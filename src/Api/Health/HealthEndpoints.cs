using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using ReconService.Api.Hosting;

namespace ReconService.Api.Health;

/// <summary>Liveness (the process answers) and readiness (weights loaded, not draining).</summary>
public static class HealthEndpoints
{
    private const string ReadyTag = "ready";

    /// <summary>Registers the readiness check.</summary>
    public static IServiceCollection AddReconHealth(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<EngineReadyCheck>("engine", tags: [ReadyTag])
            .AddCheck<DrainReadinessCheck>("drain", tags: [ReadyTag]);   // 503 from SIGTERM on (Hosting/Drain.cs)
        return services;
    }

    /// <summary>Maps <c>GET /health/live</c> and <c>GET /health/ready</c>.</summary>
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false })
            .WithName("live").WithTags("Health").WithDisplayName("live");
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag) })
            .WithName("ready").WithTags("Health").WithDisplayName("ready");
        return app;
    }

    private sealed class EngineReadyCheck(EngineHost host) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(host.IsReady ? HealthCheckResult.Healthy("model loaded")
                : host.LoadError is null ? HealthCheckResult.Unhealthy("model loading")
                : HealthCheckResult.Unhealthy("model failed to load"));
    }
}
