using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace ReconService.Api.Diagnostics;

/// <summary>OpenTelemetry metrics: ASP.NET Core, the .NET runtime and <see cref="ReconMetrics"/>, for Prometheus at <c>/metrics</c>.</summary>
public static class TelemetryRegistration
{
    /// <summary>Path Prometheus scrapes.</summary>
    public const string PrometheusPath = "/metrics";

    /// <summary>Registers <see cref="ReconMetrics"/> and the OpenTelemetry meter provider with its Prometheus exporter.</summary>
    public static IServiceCollection AddReconTelemetry(this IServiceCollection services)
    {
        services.AddSingleton<ReconMetrics>();
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ReconMetrics.MeterName))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(ReconMetrics.MeterName)
                // Created with the provider, so the observed instruments (queue, live tensors) export before any request.
                .AddInstrumentation(provider => provider.GetRequiredService<ReconMetrics>())
                .AddPrometheusExporter());
        return services;
    }

    /// <summary>Maps the Prometheus scraping endpoint (text format, or OpenMetrics when asked for).</summary>
    public static IEndpointRouteBuilder MapPrometheus(this IEndpointRouteBuilder app)
    {
        app.MapPrometheusScrapingEndpoint(PrometheusPath);
        return app;
    }
}
