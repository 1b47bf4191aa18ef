
namespace ReconService.Api.Hosting;

/// <summary>Answers 503 (with <c>Retry-After</c>) while the engine is not loaded.</summary>
public static class EngineGate
{
    /// <summary>Adds the readiness gate to every endpoint of the group.</summary>
    public static RouteGroupBuilder RequireEngine(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (context, next) =>
        {
            var host = context.HttpContext.RequestServices.GetRequiredService<EngineHost>();
            if (host.IsReady) return await next(context);
            context.HttpContext.Response.Headers.RetryAfter = "5";
            return TypedResults.Problem(
                detail: host.LoadError is null ? "model: still loading; retry shortly" : "model: failed to load; see the service log",
                statusCode: StatusCodes.Status503ServiceUnavailable, title: "Service not ready",
                extensions: new Dictionary<string, object?> { ["field"] = "model" });
        });
        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    /// <summary>Documents the 400, 413 and 422 problems every endpoint of the group can answer.</summary>
    public static RouteGroupBuilder WithStandardProblems(this RouteGroupBuilder group)
    {
        group.ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        return group;
    }
}
