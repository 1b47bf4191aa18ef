using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Logging;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;
using Serilog;

namespace ReconService.Api.Caching;

/// <summary>
/// Answers repeated identical reconstitution requests from a bounded in-memory cache. The key is the endpoint,
/// its route values and a SHA-256 of the request as JSON; entries are sized by their tensors' bytes.
/// </summary>
public sealed class ResponseCache(IOptions<CacheOptions> options) : IDisposable
{
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = options.Value.SizeLimitBytes });

    /// <summary>Whether the cache is on (<c>Cache:Enabled</c>).</summary>
    public bool Enabled { get; } = options.Value.Enabled;

    /// <summary>The cache itself (for tests and diagnostics).</summary>
    public IMemoryCache Cache => _cache;

    /// <inheritdoc />
    public void Dispose() => _cache.Dispose();

    internal static string Key(HttpContext http, TensorRequest request, JsonSerializerOptions json)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(request, request.GetType(), json);
        var hash = Convert.ToHexString(SHA256.HashData(bytes));
        var route = string.Join("&", http.Request.RouteValues.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
        return $"{http.GetEndpoint()?.DisplayName}|{route}|{hash}";
    }
}

/// <summary>Adds the response cache to endpoints.</summary>
public static class ResponseCacheExtensions
{
    private static readonly ConcurrentDictionary<Type, PropertyInfo[]> TensorProperties = new();

    /// <summary>Registers the cache.</summary>
    public static IServiceCollection AddReconCache(this IServiceCollection services)
    {
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ResponseCache>();
        return services;
    }

    /// <summary>Serves the group's successful responses from the cache when an identical request comes again.</summary>
    public static RouteGroupBuilder WithResponseCache(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (context, next) =>
        {
            var services = context.HttpContext.RequestServices;
            var cache = services.GetRequiredService<ResponseCache>();
            var request = context.Arguments.OfType<TensorRequest>().FirstOrDefault();
            if (!cache.Enabled || request is null) return await next(context);

            var json = services.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
            var key = ResponseCache.Key(context.HttpContext, request, json);
            var log = services.GetRequiredService<IDiagnosticContext>();
            if (cache.Cache.TryGetValue(key, out var hit))
            {
                log.Set(RequestFields.CacheHit, true);
                return hit;
            }
            var result = await next(context);
            if (result is INestedHttpResult { Result: IStatusCodeHttpResult { StatusCode: StatusCodes.Status200OK } and IValueHttpResult { Value: { } value } })
                cache.Cache.Set(key, result, new MemoryCacheEntryOptions { Size = Math.Max(1, Size(value)) });
            log.Set(RequestFields.CacheHit, false);
            return result;
        });
        return group;
    }

    private static long Size(object response)
    {
        var properties = TensorProperties.GetOrAdd(response.GetType(),
            t => t.GetProperties().Where(p => p.PropertyType == typeof(TensorPayload)).ToArray());
        long bytes = 256;
        foreach (var p in properties)
            if (p.GetValue(response) is TensorPayload tensor) bytes += tensor.ElementCount * sizeof(float);
        return bytes;
    }
}
