using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace ReconService.Api.Security;

/// <summary>
/// Answers 401 unless the request carries a configured key in <c>X-API-Key</c> (health probes exempt).
/// Keys are compared as SHA-256 digests with <see cref="CryptographicOperations.FixedTimeEquals"/>, so neither
/// the content nor the length of a key leaks through timing.
/// </summary>
public sealed class ApiKeyMiddleware(RequestDelegate next, IOptions<ApiKeyOptions> options, IProblemDetailsService problems)
{
    private readonly byte[][] _digests = options.Value.Keys
        .Where(k => !string.IsNullOrEmpty(k))
        .Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k)))
        .ToArray();

    /// <summary>Passes the request on, or answers 401.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        if (_digests.Length == 0 || context.Request.Path.StartsWithSegments("/health") || IsAllowed(context.Request.Headers[ApiKeyOptions.Header]))
        {
            await next(context);
            return;
        }
        var missing = string.IsNullOrEmpty(context.Request.Headers[ApiKeyOptions.Header]);
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = $"ApiKey header=\"{ApiKeyOptions.Header}\"";
        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status401Unauthorized,
            Title = "Unauthorized",
            Detail = missing ? $"{ApiKeyOptions.Header}: an API key is required" : $"{ApiKeyOptions.Header}: the API key is not accepted",
        };
        problem.Extensions["field"] = ApiKeyOptions.Header;
        await problems.WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem });
    }

    private bool IsAllowed(Microsoft.Extensions.Primitives.StringValues header)
    {
        if (header.Count != 1 || string.IsNullOrEmpty(header[0])) return false;
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(header[0]!));
        var allowed = false;
        // Every key is compared, so the time taken does not depend on which one matched.
        foreach (var key in _digests) allowed |= CryptographicOperations.FixedTimeEquals(digest, key);
        return allowed;
    }
}
