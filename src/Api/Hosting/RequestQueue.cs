using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;

namespace ReconService.Api.Hosting;

/// <summary>
/// Bounds concurrent model requests (tensor work is synchronous on the request's thread) with a FIFO queue;
/// a full queue answers 429 with <c>Retry-After</c>.
/// </summary>
public static class RequestQueue
{
    /// <summary>Name of the rate-limiting policy on model endpoints.</summary>
    public const string Policy = "engine";

    /// <summary>Registers the limiter from <c>Limits:MaxConcurrentRequests</c> and <c>Limits:QueueLength</c>.</summary>
    public static IServiceCollection AddReconRequestQueue(this IServiceCollection services)
    {
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<LimitsOptions>>((options, limits) =>
        {
            options.AddPolicy(Policy, _ => RateLimitPartition.GetConcurrencyLimiter(Policy, _ => new ConcurrencyLimiterOptions
            {
                PermitLimit = limits.Value.MaxConcurrentRequests,
                QueueLimit = limits.Value.QueueLength,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            }));
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = async (context, cancellationToken) =>
            {
                // Concurrency leases carry no retry-after metadata: say when to come back ourselves.
                context.HttpContext.Response.Headers.RetryAfter = "1";
                var problems = context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>();
                await problems.TryWriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context.HttpContext,
                    ProblemDetails = new ProblemDetails
                    {
                        Status = StatusCodes.Status429TooManyRequests,
                        Title = "Too many requests",
                        Detail = "queue: the request queue is full (Limits:QueueLength); retry after the Retry-After delay",
                        Extensions = { ["field"] = "queue" },
                    },
                });
            };
        });
        return services;
    }

    /// <summary>Puts the group's endpoints behind the queue.</summary>
    public static RouteGroupBuilder WithRequestQueue(this RouteGroupBuilder group)
    {
        group.RequireRateLimiting(Policy).ProducesProblem(StatusCodes.Status429TooManyRequests);
        return group;
    }
}
