using System.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using ReconService.Api.Hosting;
using ReconService.Api.Limits;

namespace ReconService.Api.Diagnostics;

/// <summary>Process memory, live tensors and queue counts, for soak runs and dashboards.</summary>
public static class MetricsEndpoints
{
    /// <summary>Maps <c>GET /v1/metrics</c>.</summary>
    public static RouteGroupBuilder MapMetrics(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Diagnostics");
        group.MapGet("/metrics", Get).WithName("metrics")
            .WithSummary("Live tensors, working set and queue counts")
            .WithDescription("liveTensors is the engine's count of undisposed TorchSharp tensors (null while loading); workingSetBytes " +
                             "and gcHeapBytes describe the process; queue has the configured slots and counts of admitted, rejected (429), " +
                             "timed-out (503) and abandoned requests.");
        return group;
    }

    /// <summary>GET /v1/metrics.</summary>
    public static Ok<MetricsResponse> Get(EngineHost host, EngineQueue queue)
    {
        using var process = Process.GetCurrentProcess();
        return TypedResults.Ok(new MetricsResponse(
            host.IsReady ? host.Engine.LiveTensorCount : null,
            process.WorkingSet64,
            GC.GetTotalMemory(forceFullCollection: false),
            queue.Statistics()));
    }
}

/// <summary>Body of <c>GET /v1/metrics</c>.</summary>
public sealed record MetricsResponse(long? LiveTensors, long WorkingSetBytes, long GcHeapBytes, QueueStatistics Queue);
