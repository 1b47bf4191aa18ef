using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Diagnostics;
using ReconService.Api.Logging;
using ReconService.Api.Pipeline;
using Serilog;

namespace ReconService.Api.Caching;

/// <summary>
/// The cache step: repeated identical requests answered with the encoded bytes of the first answer (never tensors),
/// through <see cref="HybridCache"/> (in-process; with <c>Cache:Redis</c> Redis is its second level, shared by replicas:
/// <see cref="SharedAnswerStore"/>). The key is the model's identity (<see cref="ModelIdentity"/>), the operation (the
/// endpoint's name), its route values, the answer's media type and a SHA-256 of the request body's bytes. Cacheable
/// answers carry <c>X-Cache: hit</c> (from either level) or <c>miss</c>, counted in <c>recon.cache.lookups</c>;
/// identical requests arriving together run once.
/// </summary>
public sealed class AnswerCache(HybridCache cache, IOptions<CacheOptions> options, IDiagnosticContext log, ModelIdentity model, ReconMetrics metrics)
{
    /// <summary>First field of every key: the key's layout (changing it must change this).</summary>
    public const string KeyVersion = "a1";

    /// <summary>Whether the cache is on (<c>Cache:Enabled</c>).</summary>
    public bool Enabled { get; } = options.Value.Enabled;

    /// <summary>Whether an answer expected to be <paramref name="expectedBytes"/> long goes through the cache (see <see cref="GetOrRunAsync"/>).</summary>
    public bool Caches(long expectedBytes) => Enabled && expectedBytes <= options.Value.SizeLimitBytes;

    /// <summary>
    /// The cached answer for this request, or <paramref name="run"/>'s (then cached). An answer expected to be larger
    /// than the whole cache (<paramref name="expectedBytes"/>, from the plan) is not cacheable: it is run directly, with
    /// no <c>X-Cache</c> header, and its bytes stay the caller's to let go of.
    /// </summary>
    public async ValueTask<EncodedAnswer> GetOrRunAsync(HttpContext http, ReadOnlyMemory<byte> body, string mediaType, long expectedBytes,
        Func<CancellationToken, ValueTask<EncodedAnswer>> run)
    {
        var limit = options.Value.SizeLimitBytes;
        if (!Caches(expectedBytes)) return await run(http.RequestAborted);
        var ran = false;
        var operation = Pipeline.EnginePipeline.OperationName(http);
        var key = Key(model.Value, operation, http, mediaType, body.Span);
        var answer = await cache.GetOrCreateAsync(key, async cancel =>
        {
            ran = true;
            // Identical requests waiting on this one may be handed the same object: it must not let go of its bytes.
            var answer = await run(cancel);
            return new EncodedAnswer(answer.Body, answer.MediaType);
        }, cancellationToken: http.RequestAborted);
        // Larger than expected (a list answer) and than the whole cache: not kept (the in-process level keeps what it is given).
        if (ran && answer.Body.Length > limit) await cache.RemoveAsync(key, http.RequestAborted);
        http.Response.Headers["X-Cache"] = ran ? "miss" : "hit";
        log.Set(RequestFields.CacheHit, !ran);
        metrics.RecordCacheLookup(operation, hit: !ran);
        return answer;
    }

    /// <summary><c>a1|model identity|operation|route values|media type|sha256(body)</c>.</summary>
    public static string Key(string modelIdentity, string operation, HttpContext http, string mediaType, ReadOnlySpan<byte> body)
    {
        var route = string.Join("&", http.Request.RouteValues.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
        return $"{KeyVersion}|{modelIdentity}|{operation}|{route}|{mediaType}|{Convert.ToHexString(SHA256.HashData(body))}";
    }

    /// <summary>The operation named in a key made by <see cref="Key"/>; <c>other</c> for keys of other kinds (HybridCache's own).</summary>
    public static string OperationOf(string key)
    {
        var parts = key.Split('|', 4);
        return parts.Length == 4 && parts[0] == KeyVersion ? parts[2] : "other";
    }
}

/// <summary>Registers the cache.</summary>
public static class AnswerCacheRegistration
{
    /// <summary>Binds <c>Cache</c> and registers <see cref="HybridCache"/> for encoded answers, bounded by <c>Cache:SizeLimitBytes</c>.</summary>
    public static IServiceCollection AddReconCache(this IServiceCollection services)
    {
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddMemoryCache();
        services.AddOptions<Microsoft.Extensions.Caching.Memory.MemoryCacheOptions>().Configure<IOptions<CacheOptions>>((memory, cache) =>
            memory.SizeLimit = cache.Value.SizeLimitBytes);
        services.AddHybridCache().AddSerializer<EncodedAnswer, EncodedAnswerSerializer>();
        // The pipeline admits an answer by its least size (base64); a list-encoded one can come out up to ~4× longer and is
        // then removed by GetOrRunAsync. HybridCache's own bound sits above that, so such an answer is not logged as an error.
        services.AddOptions<HybridCacheOptions>().Configure<IOptions<CacheOptions>>((hybrid, cache) =>
            hybrid.MaximumPayloadBytes = (int)Math.Min(int.MaxValue, 4 * cache.Value.SizeLimitBytes + 4096));
        services.AddReconSharedCache();
        services.AddSingleton<AnswerCache>();
        return services;
    }
}

/// <summary>Stores an <see cref="EncodedAnswer"/> as its media type's length and text, then the body.</summary>
public sealed class EncodedAnswerSerializer : IHybridCacheSerializer<EncodedAnswer>
{
    /// <inheritdoc />
    public EncodedAnswer Deserialize(ReadOnlySequence<byte> source)
    {
        var bytes = source.ToArray();
        var typeLength = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        return new EncodedAnswer(bytes.AsMemory(4 + typeLength), Encoding.UTF8.GetString(bytes, 4, typeLength));
    }

    /// <inheritdoc />
    public void Serialize(EncodedAnswer value, IBufferWriter<byte> target)
    {
        var type = Encoding.UTF8.GetBytes(value.MediaType);
        BinaryPrimitives.WriteInt32LittleEndian(target.GetSpan(4), type.Length);
        target.Advance(4);
        target.Write(type);
        target.Write(value.Body.Span);
    }
}
