using System.Collections.Concurrent;
using System.Reflection;
using ReconService.Api.Errors;
using ReconService.Models.Tensors;

namespace ReconService.Api.Limits;

/// <summary>
/// Checks that cost nothing and run before a request takes a queue slot or allocates a tensor: base64 length
/// against shape × dtype size (400 naming <c>.data</c>) and tokens × batch against
/// <see cref="TokenLimitsOptions.MaxTokensPerRequest"/> (422 naming <c>.shape</c> or <c>tokens</c>).
/// </summary>
public static class RequestLimits
{
    private static readonly ConcurrentDictionary<Type, (string Field, PropertyInfo Property)[]> Payloads = new();
    private static readonly ConcurrentDictionary<Type, PropertyInfo?> TokenArrays = new();

    /// <summary>The first problem among the endpoint's arguments, or null.</summary>
    public static IResult? Check(IList<object?> arguments, TokenLimitsOptions limits)
    {
        foreach (var argument in arguments)
        {
            if (argument is null) continue;
            var type = argument.GetType();
            foreach (var (field, property) in Payloads.GetOrAdd(type, FindPayloads))
            {
                if (property.GetValue(argument) is not TensorPayload payload) continue;
                if (CheckPayload(payload, field, limits) is { } problem) return problem;
            }
            if (TokenArrays.GetOrAdd(type, t => t.GetProperty("Tokens", typeof(int[])))?.GetValue(argument) is int[] tokens
                && tokens.Length > limits.MaxTokensPerRequest)
                return Problem(StatusCodes.Status422UnprocessableEntity, "tokens",
                    $"expected at most {limits.MaxTokensPerRequest} tokens (Limits:MaxTokensPerRequest), got {tokens.Length}");
        }
        return null;
    }

    private static IResult? CheckPayload(TensorPayload payload, string field, TokenLimitsOptions limits)
    {
        var shape = payload.Shape;
        long elements;
        try { elements = payload.ElementCount; }
        catch (OverflowException)
        {
            return Problem(StatusCodes.Status400BadRequest, $"{field}.shape", "the shape's element count overflows");
        }
        if (shape.Count >= 2)
        {
            long rows = 1;
            for (var i = 0; i < shape.Count - 1; i++) rows *= shape[i];
            if (rows > limits.MaxTokensPerRequest)
                return Problem(StatusCodes.Status422UnprocessableEntity, $"{field}.shape",
                    $"expected at most {limits.MaxTokensPerRequest} tokens × batch (Limits:MaxTokensPerRequest), got [{string.Join(", ", shape)}]");
        }
        if (!payload.HasValues && payload.ElementSize > 0)
        {
            var expected = (elements * payload.ElementSize + 2) / 3 * 4;
            if (payload.Base64Utf8.Length != expected)
                return Problem(StatusCodes.Status400BadRequest, $"{field}.data",
                    $"shape [{string.Join(", ", shape)}] of {payload.Dtype} needs base64 of length {expected}, got {payload.Base64Utf8.Length}");
        }
        return null;
    }

    private static IResult Problem(int status, string field, string message) => LimitProblem.Create(status, field, message);

    private static (string, PropertyInfo)[] FindPayloads(Type type) => type
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.PropertyType == typeof(TensorPayload) && p.GetIndexParameters().Length == 0)
        .Select(p => (char.ToLowerInvariant(p.Name[0]) + p.Name[1..], p))
        .ToArray();
}
