using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using ReconService.Api.Hosting;
using ReconService.Api.Logging;
using ReconService.Engine;
using ReconService.Models.Tensors;

namespace ReconService.Api.Errors;

/// <summary>
/// Turns every failure into RFC 7807 problem details naming the field at fault:
/// 400 malformed JSON, base64 or fields; 413 over the size limit; 422 a request the model can't serve;
/// 503 not ready; 500 anything else (logged).
/// </summary>
public sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    /// <inheritdoc />
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, field, detail) = Classify(exception);
        if (status >= 500 && status != StatusCodes.Status503ServiceUnavailable)
            logger.UnhandledError(context.GetEndpoint()?.DisplayName, exception);
        if (status == StatusCodes.Status503ServiceUnavailable) context.Response.Headers.RetryAfter = "5";
        context.Response.StatusCode = status;
        var problem = new ProblemDetails
        {
            Status = status,
            Title = Title(status),
            Detail = field is null ? detail : $"{field}: {detail}",
        };
        if (field is not null) problem.Extensions["field"] = field;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception });
    }

    /// <summary>Status, field and message for an exception.</summary>
    public static (int Status, string? Field, string Detail) Classify(Exception exception) => exception switch
    {
        RequestFieldException e => (e.StatusCode, e.Field, e.Message),
        ReconstitutionException e => (StatusCodes.Status422UnprocessableEntity, e.Field, e.Message),
        EngineNotReadyException e => (StatusCodes.Status503ServiceUnavailable, null, e.Message),
        BadHttpRequestException { InnerException: JsonException json } e => FromJson(e.StatusCode, json),
        BadHttpRequestException e => (e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "body" : null,
            e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "request body is larger than the configured limit (Limits:MaxRequestBodyBytes)" : e.Message),
        JsonException json => FromJson(StatusCodes.Status400BadRequest, json),
        _ => (StatusCodes.Status500InternalServerError, null, "internal error"),
    };

    private static (int, string?, string) FromJson(int status, JsonException json)
    {
        var field = FieldFromPath(json.Path);
        if (json is TensorPayloadException tensor && tensor.Member.Length > 0)
            field = field.Length == 0 ? tensor.Member : $"{field}.{tensor.Member}";
        var message = json is TensorPayloadException ? json.Message : StripPosition(json.Message);
        if (MissingFields(message) is { Length: > 0 } missing)
        {
            var prefix = field.Length == 0 ? "" : field + ".";
            return (status, prefix + missing[0], $"required field missing: {string.Join(", ", missing.Select(m => prefix + m))}");
        }
        return (status, field.Length == 0 ? "body" : field, Explain(message));
    }

    /// <summary>Replaces "could not be converted to T" with what the field accepts.</summary>
    private static string Explain(string message)
    {
        const string marker = "could not be converted to ";
        var at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return message;
        var typeName = message[(at + marker.Length)..].TrimEnd('.', ' ');
        var bracket = typeName.IndexOf('[');
        if (bracket >= 0) typeName = typeName[(bracket + 1)..].TrimEnd(']');
        var type = typeof(Models.NodeType).Assembly.GetType(typeName) ?? Type.GetType(typeName);
        if (type is { IsEnum: true })
        {
            var names = type.GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
                .Select(f => f.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonStringEnumMemberNameAttribute), false)
                    .OfType<System.Text.Json.Serialization.JsonStringEnumMemberNameAttribute>().FirstOrDefault()?.Name ?? f.Name);
            return $"expected one of {string.Join(", ", names)}";
        }
        return type == typeof(int) || type == typeof(long) ? "expected an integer"
            : type == typeof(bool) ? "expected true or false"
            : type == typeof(string) ? "expected a string"
            : type is not null && type.IsArray ? "expected an array"
            : message;
    }

    /// <summary><c>$.residual.shape[1]</c> → <c>residual.shape</c>.</summary>
    public static string FieldFromPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "";
        var trimmed = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        var bracket = trimmed.IndexOf('[');
        return bracket >= 0 ? trimmed[..bracket] : trimmed;
    }

    private static string StripPosition(string message)
    {
        var at = message.IndexOf(" Path: ", StringComparison.Ordinal);
        return at >= 0 ? message[..at] : message;
    }

    private static string[]? MissingFields(string message)
    {
        const string marker = "missing required properties including: ";
        var at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return null;
        return message[(at + marker.Length)..].Split(',')
            .Select(name => name.Trim().TrimEnd('.').Trim('\''))
            .Where(name => name.Length > 0).ToArray();
    }

    private static string Title(int status) => status switch
    {
        400 => "Malformed request",
        413 => "Request body too large",
        422 => "The model cannot serve this request",
        503 => "Service not ready",
        _ => "Internal error",
    };
}
