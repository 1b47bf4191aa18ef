using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using ReconService.Api.Errors;

namespace ReconService.Api.Security;

/// <summary>
/// When keys are configured, every <c>/v1</c> request needs one in <c>X-API-Key</c> (401 otherwise). Everything else is
/// open: the health probes, the viewer page, Swagger UI and the OpenAPI document, so that a browser can load them and
/// then send the key (Swagger's "Authorize", the viewer's prompt). Keys are compared as SHA-256 digests with
/// <see cref="CryptographicOperations.FixedTimeEquals"/>, so neither the content nor the length of a key leaks through timing.
/// </summary>
public sealed class ApiKeyMiddleware(RequestDelegate next, IOptions<ApiKeyOptions> options)
{
    private readonly byte[][] _digests = options.Value.Keys
        .Where(k => !string.IsNullOrEmpty(k))
        .Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k)))
        .ToArray();

    /// <summary>Passes the request on, or refuses it (401).</summary>
    public Task InvokeAsync(HttpContext context)
    {
        if (_digests.Length == 0 || !context.Request.Path.StartsWithSegments("/v1") || HttpMethods.IsOptions(context.Request.Method)
            || IsAllowed(context.Request.Headers[ApiKeyOptions.Header]))
            return next(context);
        var missing = string.IsNullOrEmpty(context.Request.Headers[ApiKeyOptions.Header]);
        throw new ProblemException(StatusCodes.Status401Unauthorized, ApiKeyOptions.Header,
            missing ? "an API key is required" : "the API key is not accepted")
        {
            Headers = new Dictionary<string, string> { ["WWW-Authenticate"] = $"ApiKey header=\"{ApiKeyOptions.Header}\"" },
        };
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
