using System.ComponentModel.DataAnnotations;

namespace ReconService.Api.Limits;

/// <summary><c>Queue</c>: the bounded work queue in front of the engine.</summary>
public sealed class QueueOptions
{
    public const string Section = "Queue";

    /// <summary>Engine requests running at once.</summary>
    [Range(1, 1024)]
    public int Concurrency { get; set; } = 2;

    /// <summary>Engine requests waiting for a slot; beyond this, 429 with <c>Retry-After</c>.</summary>
    [Range(0, 100_000)]
    public int Length { get; set; } = 32;

    /// <summary>Longest wait for a slot, in seconds; then 503 with <c>Retry-After</c>. Running tensor work is not interrupted.</summary>
    [Range(1, 3600)]
    public int TimeoutSeconds { get; set; } = 60;

    /// <summary>
    /// libtorch intra-op threads for one request's tensor work. 0 (the default) chooses per request: the machine's cores
    /// divided by the engine requests running at that moment, this one included (a request alone uses every core; two at
    /// once on two cores get one each). A positive value fixes the count for every request.
    /// </summary>
    [Range(0, 1024)]
    public int IntraOpThreads { get; set; }

    /// <summary>The <c>Retry-After</c> value sent with 429 and queue-timeout 503 answers, in seconds.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 1;
}
