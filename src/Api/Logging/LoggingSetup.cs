using Serilog;
using Serilog.Events;

namespace ReconService.Api.Logging;

/// <summary>Serilog: console output, configuration from <c>Serilog</c>, one structured event per request.</summary>
public static class LoggingSetup
{
    /// <summary>Replaces the default logging with Serilog.</summary>
    public static WebApplicationBuilder AddReconLogging(this WebApplicationBuilder builder)
    {
        builder.Services.AddSerilog((services, logger) => logger
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .ReadFrom.Configuration(builder.Configuration)
            .ReadFrom.Services(services)
            .Enrich.FromLogContext()
            .WriteTo.Console(), preserveStaticLogger: true);
        return builder;
    }

    /// <summary>Logs each request once, with endpoint, tokens, layer and duration as properties.</summary>
    public static WebApplication UseReconRequestLogging(this WebApplication app)
    {
        app.UseSerilogRequestLogging(options =>
        {
            options.Logger = app.Services.GetRequiredService<Serilog.ILogger>();
            options.MessageTemplate = "{Endpoint} responded {StatusCode} in {Elapsed:0.0} ms";
            options.EnrichDiagnosticContext = (diagnostics, http) =>
                diagnostics.Set(RequestFields.Endpoint, http.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName
                                                      ?? http.GetEndpoint()?.DisplayName ?? "(none)");
            // Probes poll /health (503 while loading is expected there); 503 and 429 elsewhere are load, not faults.
            options.GetLevel = (http, _, error) =>
                error is not null ? LogEventLevel.Error
                : http.Request.Path.StartsWithSegments("/health") ? LogEventLevel.Debug
                : http.Response.StatusCode is StatusCodes.Status503ServiceUnavailable or StatusCodes.Status429TooManyRequests ? LogEventLevel.Warning
                : http.Response.StatusCode >= 500 ? LogEventLevel.Error
                : LogEventLevel.Information;
        });
        return app;
    }
}
