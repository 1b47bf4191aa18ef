using System.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using ReconService.Api.Hosting;
using ReconService.Api.Limits;
using ReconService.Api.Pipeline;

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
            .WithDescription("liveTensors is the engine's count of undisposed TorchSharp tensors (null while loading); workingSetBytes, " +
                             "peakWorkingSetBytes and gcHeapBytes describe the process; queue has the configured slots, counts of admitted, " +
                             "rejected (429), timed-out (503) and abandoned requests, and the working memory reserved against the budget " +
                             "(now, at most, and the budget); answers has the bytes of encoded answers being written (now and at most).");
        return group;
    }

    /// <summary>GET /v1/metrics.</summary>
    public static Ok<MetricsResponse> Get(EngineHost host, EngineQueue queue, AnswerStatistics answers)
    {
        using var process = Process.GetCurrentProcess();
        return TypedResults.Ok(new MetricsResponse(
            host.IsReady ? host.Engine.LiveTensorCount : null,
            process.WorkingSet64,
            process.PeakWorkingSet64,
            GC.GetTotalMemory(forceFullCollection: false),
            queue.Statistics(),
            new AnswerMetrics(answers.WritingBytes, answers.WritingBytesPeak)));
    }
}

/// <summary>Body of <c>GET /v1/metrics</c>.</summary>
/// <param name="LiveTensors">Undisposed TorchSharp tensors (null while loading).</param>
/// <param name="WorkingSetBytes">Resident memory now.</param>
/// <param name="PeakWorkingSetBytes">Resident memory at most (Linux: VmHWM).</param>
/// <param name="GcHeapBytes">Managed heap.</param>
/// <param name="Queue">The engine queue and its memory budget.</param>
/// <param name="Answers">Encoded answers being written.</param>
public sealed record MetricsResponse(long? LiveTensors, long WorkingSetBytes, long PeakWorkingSetBytes, long GcHeapBytes, QueueStatistics Queue,
    AnswerMetrics Answers);

/// <summary>Bytes of encoded answers being written, now and at most.</summary>
public sealed record AnswerMetrics(long WritingBytes, long WritingBytesPeak);
