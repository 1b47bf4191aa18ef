using Microsoft.AspNetCore.Http.HttpResults;
using ReconService.Api.Errors;
using ReconService.Engine;
using TorchSharp;

namespace ReconService.Api.Reconstitution;

/// <summary>Runs one request's tensor work synchronously inside a dispose scope, turning field errors into problem results.</summary>
public static class EngineCall
{
    /// <summary>
    /// Runs <paramref name="work"/> on the calling thread inside a dispose scope (every tensor it makes is freed
    /// on return; its result must already be copied out to the wire). Field errors become 400/422 problems.
    /// </summary>
    public static Results<Ok<T>, ProblemHttpResult> Run<T>(Func<T> work)
    {
        try
        {
            using var scope = torch.NewDisposeScope();
            return TypedResults.Ok(work());
        }
        catch (RequestFieldException e)
        {
            return Problem(e.StatusCode, e.Field, e.Message);
        }
        catch (ReconstitutionException e)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, e.Field, e.Message);
        }
    }

    /// <summary>A problem result naming <paramref name="field"/>, as the exception handler writes it.</summary>
    public static ProblemHttpResult Problem(int status, string field, string message) =>
        TypedResults.Problem(
            detail: $"{field}: {message}",
            statusCode: status,
            title: status == StatusCodes.Status422UnprocessableEntity ? "The model cannot serve this request" : "Malformed request",
            extensions: new Dictionary<string, object?> { ["field"] = field });
}
