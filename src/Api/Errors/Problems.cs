using Microsoft.AspNetCore.Mvc;

namespace ReconService.Api.Errors;

/// <summary>
/// A request the service refuses, answered as problem details naming the field at fault: thrown anywhere on the
/// request path and written by <see cref="ProblemExceptionHandler"/>, the one place errors are answered.
/// </summary>
/// <param name="status">HTTP status (400, 401, 413, 415, 422, 429, 503).</param>
/// <param name="field">Request field, header or resource at fault (<c>residual.data</c>, <c>X-API-Key</c>, <c>queue</c>).</param>
/// <param name="message">What was expected and what was given.</param>
public sealed class ProblemException(int status, string field, string message) : Exception(message)
{
    /// <summary>HTTP status to answer with.</summary>
    public int Status { get; } = status;

    /// <summary>Field at fault, camelCase and dotted for nested fields.</summary>
    public string Field { get; } = field;

    /// <summary>Headers to send with the problem (<c>Retry-After</c>, <c>WWW-Authenticate</c>).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
}

/// <summary>The one factory of the service's problem details (RFC 7807): title by status, detail and <c>field</c> naming the field.</summary>
public static class Problems
{
    /// <summary>Problem details for <paramref name="status"/>; the detail starts with the field when there is one.</summary>
    public static ProblemDetails Create(int status, string? field, string detail)
    {
        var problem = new ProblemDetails { Status = status, Title = Title(status), Detail = field is null ? detail : $"{field}: {detail}" };
        if (field is not null) problem.Extensions["field"] = field;
        return problem;
    }

    /// <summary>The field and detail the service gives a bare status that the framework set (404, 405, 413, 415, 400).</summary>
    public static (string Field, string Detail)? ForStatus(int status) => status switch
    {
        StatusCodes.Status413PayloadTooLarge => ("body", "request body is larger than the configured limit (Limits:MaxRequestBodyBytes)"),
        StatusCodes.Status400BadRequest => ("body", BodyExpected),
        StatusCodes.Status415UnsupportedMediaType => ("Content-Type", "expected application/json"),
        StatusCodes.Status404NotFound => ("path", "no such endpoint"),
        StatusCodes.Status405MethodNotAllowed => ("method", "method not allowed on this path"),
        _ => null,
    };

    /// <summary>What a body should be, for a body that is missing or not JSON.</summary>
    public const string BodyExpected = "expected a JSON object with the endpoint's fields (Content-Type: application/json); see /swagger";

    private static string Title(int status) => status switch
    {
        400 => "Malformed request",
        401 => "Unauthorized",
        404 => "Not found",
        405 => "Method not allowed",
        406 => "Not acceptable",
        413 => "Request body too large",
        415 => "Unsupported media type",
        422 => "The model cannot serve this request",
        429 => "Too many requests",
        503 => "Service unavailable",
        _ => "Internal error",
    };
}
