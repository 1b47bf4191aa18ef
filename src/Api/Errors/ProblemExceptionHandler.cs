using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
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
        if (exception is ProblemException { Headers: var headers })
            foreach (var (name, value) in headers) context.Response.Headers[name] = value;
        if (exception is EngineNotReadyException) context.Response.Headers.RetryAfter = "5";
        context.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context, ProblemDetails = Problems.Create(status, field, detail), Exception = exception,
        });
    }

    /// <summary>Status, field and message for an exception.</summary>
    public static (int Status, string? Field, string Detail) Classify(Exception exception) => exception switch
    {
        ProblemException e => (e.Status, e.Field, e.Message),
        ReconstitutionException e => (StatusCodes.Status422UnprocessableEntity, e.Field, e.Message),
        EngineNotReadyException e => (StatusCodes.Status503ServiceUnavailable, "model", e.Message),
        BadHttpRequestException { InnerException: JsonException json } e => FromJson(e.StatusCode, json),
        BadHttpRequestException e when Problems.ForStatus(e.StatusCode) is var (field, detail) => (e.StatusCode, field, detail),
        BadHttpRequestException e => (e.StatusCode, "body", Problems.BodyExpected),
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
        if (UnknownField(message) is { } unknown)
        {
            // The path may or may not end with the unknown property itself, depending on where the reader stopped.
            var parent = field == unknown || field.EndsWith("." + unknown, StringComparison.Ordinal) ? field[..^unknown.Length].TrimEnd('.') : field;
            var name = parent.Length == 0 ? unknown : $"{parent}.{unknown}";
            return (status, name, "unknown field; see the endpoint's schema in /swagger for the accepted fields");
        }
        return (status, field.Length == 0 ? "body" : field, Explain(message));
    }

    /// <summary>Replaces the serializer's wording (C# type names) with what the field accepts.</summary>
    private static string Explain(string message)
    {
        if (message.Contains("doesn't allow setting null values", StringComparison.Ordinal)
            || message.Contains("doesn't allow getting null values", StringComparison.Ordinal))
            return "expected a value, got null";
        const string marker = "could not be converted to ";
        var at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return message;
        var typeName = message[(at + marker.Length)..].TrimEnd('.', ' ');
        return $"expected {Describe(typeName)}";
    }

    /// <summary>What a JSON value of the named .NET type looks like, in words (never the type's name).</summary>
    private static string Describe(string typeName)
    {
        if (typeName.EndsWith("[]", StringComparison.Ordinal))
            return $"an array of {Plural(Describe(typeName[..^2]))}";
        // System.Nullable`1[T] or System.Nullable`1[[T, Assembly, Version=...]]
        const string nullable = "System.Nullable`1[";
        if (typeName.StartsWith(nullable, StringComparison.Ordinal))
        {
            var inner = typeName[nullable.Length..].TrimStart('[');
            var end = inner.IndexOfAny([',', ']']);
            return Describe(end >= 0 ? inner[..end] : inner);
        }
        var type = Resolve(typeName);
        if (type is null) return "a value of another JSON type";
        if (type.IsEnum) return $"one of {string.Join(", ", EnumSpellings(type))}";
        if (type == typeof(int) || type == typeof(long) || type == typeof(short)) return "an integer";
        if (type == typeof(float) || type == typeof(double)) return "a number";
        if (type == typeof(bool)) return "true or false";
        if (type == typeof(string)) return "a string";
        if (type == typeof(TensorPayload)) return "a tensor object {\"dtype\", \"shape\", \"data\"}";
        var fields = type.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Where(p => p.CanWrite && p.Name != "EqualityContract")
            .Select(p => char.ToLowerInvariant(p.Name[0]) + p.Name[1..]);
        return $"a JSON object with {string.Join(", ", fields)}";
    }

    private static string Plural(string noun) => noun switch
    {
        "an integer" => "integers",
        "a number" => "numbers",
        "a string" => "strings",
        "true or false" => "booleans",
        _ => noun.StartsWith("one of ", StringComparison.Ordinal) ? $"strings, each {noun}" : $"values, each {noun}",
    };

    private static Type? Resolve(string typeName)
    {
        try
        {
            return typeof(Models.NodeType).Assembly.GetType(typeName, throwOnError: false) ?? Type.GetType(typeName, throwOnError: false);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The JSON spellings of an enum's values.</summary>
    public static IEnumerable<string> EnumSpellings(Type type) =>
        type.GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(f => f.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonStringEnumMemberNameAttribute), false)
                .OfType<System.Text.Json.Serialization.JsonStringEnumMemberNameAttribute>().FirstOrDefault()?.Name ?? f.Name);

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

    /// <summary>The property named by System.Text.Json's unmapped-member error (<c>JsonUnmappedMemberHandling.Disallow</c>).</summary>
    private static string? UnknownField(string message)
    {
        const string marker = "could not be mapped to any .NET member";
        if (!message.Contains(marker, StringComparison.Ordinal)) return null;
        var start = message.IndexOf('\'');
        var end = start < 0 ? -1 : message.IndexOf('\'', start + 1);
        return end > start ? message[(start + 1)..end] : null;
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
}
