using System.Buffers;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Diagnostics;
using StackExchange.Redis;

namespace ReconService.Api.Caching;

/// <summary>
/// The shared second level of the answer cache (Redis, <c>Cache:Redis</c>) as <see cref="HybridCache"/> sees it: every
/// call that fails is logged, counted (<c>recon.cache.errors</c>) and answered as a miss (reads) or dropped (writes), so a
/// request whose store is down is computed, never failed. After a failure the store is left alone for
/// <see cref="RetryInterval"/> (calls in that time are counted as errors without waiting on it), then tried again: one
/// request per interval pays at most the operation timeout (<see cref="RedisSettings"/>) while Redis is unreachable.
/// </summary>
/// <remarks>
/// One warning is logged when the store starts failing and one information line when it answers again; the failures in
/// between are counted, not logged. The caller's cancellation is passed on, not counted.
/// </remarks>
public sealed partial class SharedAnswerStore : IBufferDistributedCache, IDisposable
{
    /// <summary>How long the store is left alone after a failure.</summary>
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);

    private readonly IDistributedCache _inner;
    private readonly ReconMetrics _metrics;
    private readonly ILogger<SharedAnswerStore> _logger;
    private readonly TimeProvider _clock;
    private long _skipUntil;      // TimeProvider timestamp before which the store is not called
    private int _failing;         // 1 from the first failure until a call succeeds

    /// <summary>Guards <paramref name="inner"/> (a <see cref="RedisCache"/> in service; any store in tests).</summary>
    public SharedAnswerStore(IDistributedCache inner, ReconMetrics metrics, ILogger<SharedAnswerStore> logger, TimeProvider? clock = null)
    {
        _inner = inner;
        _metrics = metrics;
        _logger = logger;
        _clock = clock ?? TimeProvider.System;
    }

    /// <summary>Whether the last call failed (the store is considered down until one succeeds).</summary>
    public bool IsFailing => Volatile.Read(ref _failing) == 1;

    /// <inheritdoc />
    public byte[]? Get(string key) => Guard(key, Action.Get, () => _inner.Get(key), null);

    /// <inheritdoc />
    public Task<byte[]?> GetAsync(string key, CancellationToken token = default) =>
        GuardAsync(key, Action.Get, () => _inner.GetAsync(key, token), null, token);

    /// <inheritdoc />
    public void Set(string key, byte[] value, DistributedCacheEntryOptions options) =>
        Guard(key, Action.Set, () => { _inner.Set(key, value, options); return true; }, false);

    /// <inheritdoc />
    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default) =>
        GuardAsync(key, Action.Set, async () => { await _inner.SetAsync(key, value, options, token); return true; }, false, token);

    /// <inheritdoc />
    public void Refresh(string key) => Guard(key, Action.Get, () => { _inner.Refresh(key); return true; }, false);

    /// <inheritdoc />
    public Task RefreshAsync(string key, CancellationToken token = default) =>
        GuardAsync(key, Action.Get, async () => { await _inner.RefreshAsync(key, token); return true; }, false, token);

    /// <inheritdoc />
    public void Remove(string key) => Guard(key, Action.Set, () => { _inner.Remove(key); return true; }, false);

    /// <inheritdoc />
    public Task RemoveAsync(string key, CancellationToken token = default) =>
        GuardAsync(key, Action.Set, async () => { await _inner.RemoveAsync(key, token); return true; }, false, token);

    /// <inheritdoc />
    public bool TryGet(string key, IBufferWriter<byte> destination) => Guard(key, Action.Get, () =>
    {
        if (_inner is IBufferDistributedCache buffers) return buffers.TryGet(key, destination);
        if (_inner.Get(key) is not { } value) return false;
        destination.Write(value);
        return true;
    }, false);

    /// <inheritdoc />
    public ValueTask<bool> TryGetAsync(string key, IBufferWriter<byte> destination, CancellationToken token = default) =>
        new(GuardAsync(key, Action.Get, async () =>
        {
            if (_inner is IBufferDistributedCache buffers) return await buffers.TryGetAsync(key, destination, token);
            if (await _inner.GetAsync(key, token) is not { } value) return false;
            destination.Write(value);
            return true;
        }, false, token));

    /// <inheritdoc />
    public void Set(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options) => Guard(key, Action.Set, () =>
    {
        if (_inner is IBufferDistributedCache buffers) buffers.Set(key, value, options);
        else _inner.Set(key, value.ToArray(), options);
        return true;
    }, false);

    /// <inheritdoc />
    public ValueTask SetAsync(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options, CancellationToken token = default) =>
        new(GuardAsync(key, Action.Set, async () =>
        {
            if (_inner is IBufferDistributedCache buffers) await buffers.SetAsync(key, value, options, token);
            else await _inner.SetAsync(key, value.ToArray(), options, token);
            return true;
        }, false, token));

    /// <inheritdoc />
    public void Dispose() => (_inner as IDisposable)?.Dispose();

    private static class Action
    {
        public const string Get = "get";
        public const string Set = "set";
    }

    private T Guard<T>(string key, string action, Func<T> call, T fallback)
    {
        if (Skipping()) return Skipped(key, action, fallback);
        try
        {
            var result = call();
            Succeeded();
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Failed(key, action, e, fallback);
        }
    }

    private async Task<T> GuardAsync<T>(string key, string action, Func<Task<T>> call, T fallback, CancellationToken token)
    {
        if (Skipping()) return Skipped(key, action, fallback);
        try
        {
            var result = await call();
            Succeeded();
            return result;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            return Failed(key, action, e, fallback);
        }
    }

    private bool Skipping() => _clock.GetTimestamp() < Volatile.Read(ref _skipUntil);

    private T Skipped<T>(string key, string action, T fallback)
    {
        _metrics.RecordCacheError(AnswerCache.OperationOf(key), action);
        return fallback;
    }

    private void Succeeded()
    {
        if (Interlocked.Exchange(ref _failing, 0) == 1) LogRecovered(_logger);
    }

    private T Failed<T>(string key, string action, Exception error, T fallback)
    {
        _metrics.RecordCacheError(AnswerCache.OperationOf(key), action);
        Volatile.Write(ref _skipUntil, _clock.GetTimestamp() + (long)(RetryInterval.TotalSeconds * _clock.TimestampFrequency));
        if (Interlocked.Exchange(ref _failing, 1) == 0)
        {
            LogFailing(_logger, action, error.GetType().Name, Short(error.Message), (int)RetryInterval.TotalSeconds);
            LogFailure(_logger, error);
        }
        return fallback;
    }

    /// <summary>The first clause of a client error (StackExchange.Redis appends its whole connection state).</summary>
    private static string Short(string message)
    {
        var end = message.IndexOf(": ", StringComparison.Ordinal) is > 0 and var colon && message.IndexOf(';') is > 0 and var semicolon
            ? Math.Min(colon, semicolon) : message.IndexOf(';');
        var first = end > 0 ? message[..end] : message;
        return first.Length > 200 ? first[..200] + "..." : first;
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning,
        Message = "Redis cache unavailable ({Action} failed: {ErrorType}: {ErrorMessage}); answers are computed without it, retried every {RetrySeconds} s")]
    private static partial void LogFailing(ILogger logger, string action, string errorType, string errorMessage, int retrySeconds);

    [LoggerMessage(EventId = 22, Level = LogLevel.Debug, Message = "Redis cache failure in full")]
    private static partial void LogFailure(ILogger logger, Exception error);

    [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "Redis cache reachable again")]
    private static partial void LogRecovered(ILogger logger);
}

/// <summary>
/// How the service connects to Redis: the connection string of <c>Cache:Redis</c> (StackExchange.Redis syntax,
/// <c>host:port[,password=...][,ssl=true]...</c>) with these defaults wherever it does not say otherwise:
/// <c>connectTimeout=1000</c> and <c>syncTimeout</c>/<c>asyncTimeout=2000</c> (milliseconds), <c>abortConnect=false</c> (start
/// and serve without Redis, connect in the background) and commands failing at once while disconnected (no backlog).
/// Keys are prefixed <see cref="InstanceName"/>.
/// </summary>
public static class RedisSettings
{
    /// <summary>Prefix of every key the service writes to Redis.</summary>
    public const string InstanceName = "reconservice:";

    /// <summary>Default connect timeout, in milliseconds.</summary>
    public const int ConnectTimeoutMs = 1000;

    /// <summary>Default operation timeout (sync and async), in milliseconds.</summary>
    public const int OperationTimeoutMs = 2000;

    /// <summary>The client settings for <paramref name="connectionString"/>.</summary>
    /// <exception cref="ArgumentException">The connection string does not parse.</exception>
    public static ConfigurationOptions Parse(string connectionString)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        var given = connectionString.Split(',').Select(part => part.Split('=', 2)[0].Trim()).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (!given.Contains("connectTimeout")) options.ConnectTimeout = ConnectTimeoutMs;
        if (!given.Contains("syncTimeout")) options.SyncTimeout = OperationTimeoutMs;
        if (!given.Contains("asyncTimeout")) options.AsyncTimeout = given.Contains("syncTimeout") ? options.SyncTimeout : OperationTimeoutMs;
        if (!given.Contains("abortConnect")) options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        return options;
    }
}

/// <summary>Registers Redis as the answer cache's second level when <c>Cache:Redis</c> is set.</summary>
public static class SharedCacheRegistration
{
    /// <summary>
    /// Registers <see cref="IDistributedCache"/>: a <see cref="SharedAnswerStore"/> over Redis when <c>Cache:Redis</c> holds a
    /// connection string and the cache is on, else nothing (the factory answers null, which <see cref="HybridCache"/>
    /// reads as "no second level": in-process only). Decided from the bound options, so every configuration source counts.
    /// </summary>
    public static IServiceCollection AddReconSharedCache(this IServiceCollection services)
    {
        services.AddSingleton<ModelIdentity>();
        services.AddSingleton<IDistributedCache>(provider =>
        {
            var cache = provider.GetRequiredService<IOptions<CacheOptions>>().Value;
            if (!cache.Enabled || string.IsNullOrWhiteSpace(cache.Redis)) return null!;
            var redis = new RedisCache(Options.Create(new RedisCacheOptions
            {
                ConfigurationOptions = RedisSettings.Parse(cache.Redis),
                InstanceName = RedisSettings.InstanceName,
            }));
            return new SharedAnswerStore(redis, provider.GetRequiredService<ReconMetrics>(), provider.GetRequiredService<ILogger<SharedAnswerStore>>(),
                provider.GetService<TimeProvider>());
        });
        return services;
    }
}
