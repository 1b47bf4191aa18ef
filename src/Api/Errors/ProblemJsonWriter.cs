using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace ReconService.Api.Errors;

/// <summary>
/// Writes problem details as <c>application/problem+json</c> whatever the request's <c>Accept</c> says: the framework's
/// writer declines a request that accepts only <c>application/x-safetensors</c>, and errors stay problem JSON
/// (<c>../shared/docs/api.md</c>, "Binary tensors"). Registered after the framework's writer, so it answers only what that
/// one declines.
/// </summary>
public sealed class ProblemJsonWriter(IOptions<ProblemDetailsOptions> problemOptions, IOptions<JsonOptions> json) : IProblemDetailsWriter
{
    /// <inheritdoc />
    public bool CanWrite(ProblemDetailsContext context) => true;

    /// <inheritdoc />
    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        problem.Status ??= context.HttpContext.Response.StatusCode;
        problemOptions.Value.CustomizeProblemDetails?.Invoke(context);
        return new ValueTask(context.HttpContext.Response.WriteAsJsonAsync(problem, problem.GetType(), json.Value.SerializerOptions, "application/problem+json",
            context.HttpContext.RequestAborted));
    }
}
