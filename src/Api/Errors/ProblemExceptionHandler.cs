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
        if (json is JsonMemberException { Member.Length: > 0 } member)
            field = field.Length == 0 ? member.Member.TrimStart('.') : member.Member[0] == '[' ? field + member.Member : $"{field}.{member.Member}";
        var message = json is JsonMemberException ? json.Message : StripPosition(json.Message);
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
            var hint = Suggest(message, unknown) is { } known ? $"did you mean {known}? (names are camelCase and case-sensitive) " : "";
            return (status, name, $"unknown field; {hint}see the endpoint's schema in /swagger for the accepted fields");
        }
        if (DuplicateField(message) is { } duplicate)
        {
            var parent = field == duplicate || field.EndsWith("." + duplicate, StringComparison.Ordinal) ? field[..^duplicate.Length].TrimEnd('.') : field;
            return (status, parent.Length == 0 ? duplicate : $"{parent}.{duplicate}", "appears twice; give each field once");
        }
        return (status, field.Length == 0 ? "body" : field, Explain(message, json.InnerException));
    }

    /// <summary>Replaces the serializer's wording (C# type names) with what the field accepts.</summary>
    private static string Explain(string message, Exception? inner)
    {
        // The reader's own failures: a number that is no integer of the field's width, a string that is not text.
        if (inner is FormatException && IntegerRange(message) is { } range)
            return $"expected an integer in the {range}";
        if (inner is InvalidOperationException { Message: var reason } && message.Contains("System.String", StringComparison.Ordinal))
        {
            if (reason.Contains("UTF-8", StringComparison.Ordinal)) return "the string is not valid UTF-8";
            if (reason.Contains("UTF-16", StringComparison.Ordinal) || reason.Contains("surrogate", StringComparison.OrdinalIgnoreCase))
                return "the string holds an unpaired surrogate escape (such as \\ud800): send a high and low surrogate pair, or the character itself";
        }
        if (message.Contains("doesn't allow setting null values", StringComparison.Ordinal)
            || message.Contains("doesn't allow getting null values", StringComparison.Ordinal))
            return "expected a value, got null";
        const string marker = "could not be converted to ";
        var at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return message;
        var typeName = message[(at + marker.Length)..].TrimEnd('.', ' ');
        return $"expected {Describe(typeName)}";
    }

    /// <summary>The range of the integer type the serializer's message names (<c>int32 range, -2147483648 to 2147483647</c>), or null.</summary>
    private static string? IntegerRange(string message) =>
        message.Contains("System.Int32", StringComparison.Ordinal) ? $"int32 range, {int.MinValue} to {int.MaxValue}"
        : message.Contains("System.Int64", StringComparison.Ordinal) ? $"int64 range, {long.MinValue} to {long.MaxValue}"
        : message.Contains("System.Int16", StringComparison.Ordinal) ? $"int16 range, {short.MinValue} to {short.MaxValue}"
        : null;

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

    /// <summary><c>$.ablations[1].nodeType</c> → <c>ablations[1].nodeType</c>: the full path, array indices included (as the 422s name fields).</summary>
    public static string FieldFromPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "";
        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
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

    /// <summary>The property named by System.Text.Json's duplicate-property error (<c>AllowDuplicateProperties = false</c>).</summary>
    private static string? DuplicateField(string message)
    {
        if (!message.StartsWith("Duplicate property '", StringComparison.Ordinal)) return null;
        var start = message.IndexOf('\'');
        var end = message.IndexOf('\'', start + 1);
        return end > start ? message[(start + 1)..end] : null;
    }

    /// <summary>The field of the message's type that <paramref name="unknown"/> most likely meant: same letters in another case, or within two edits.</summary>
    private static string? Suggest(string message, string unknown)
    {
        const string marker = "contained in type '";
        var at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return null;
        var end = message.IndexOf('\'', at + marker.Length);
        if (end < 0 || Resolve(message[(at + marker.Length)..end]) is not { } type) return null;
        var names = type.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Where(p => p.Name != "EqualityContract" && p.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonIgnoreAttribute), true).Length == 0)
            .Select(p => p.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonPropertyNameAttribute), true)
                .OfType<System.Text.Json.Serialization.JsonPropertyNameAttribute>().FirstOrDefault()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(p.Name))
            .ToArray();
        return names.FirstOrDefault(n => n.Equals(unknown, StringComparison.OrdinalIgnoreCase))
               ?? names.Select(n => (Name: n, Distance: Distance(n.ToLowerInvariant(), unknown.ToLowerInvariant())))
                   .Where(c => c.Distance <= 2).OrderBy(c => c.Distance).Select(c => c.Name).FirstOrDefault();
    }

    /// <summary>Levenshtein distance (names are short).</summary>
    private static int Distance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 2 || a.Length > 64 || b.Length > 64) return int.MaxValue;
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
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
