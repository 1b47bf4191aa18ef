using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ReconService.Api.Caching;
using ReconService.Api.Diagnostics;
using ReconService.Api.Hosting;
using ReconService.Api.Tests.Infrastructure;
using ReconService.Engine;
using Serilog.Core;
using Serilog.Events;

namespace ReconService.Api.Tests.Caching;

/// <summary>
/// The answer cache's shared second level: Redis (<c>Cache:Redis</c>) shared by replicas, keys carrying the model's
/// identity, and Redis down never failing a request. Tests needing <c>redis-server</c> skip with a message without it.
/// </summary>
public sealed class SharedCacheTests
{
    /// <summary>A replica: the service over an answering <see cref="BlockingEngine"/>, its log events captured.</summary>
    private sealed class Replica(Dictionary<string, string?> settings) : ServiceFactory(settings)
    {
        public ConcurrentQueue<LogEvent> Events { get; } = new();
        public BlockingEngine Engine { get; } = new();

        protected override void ConfigureTestServices(IServiceCollection services)
        {
            Engine.Release.Set();
            services.AddSingleton<ILogEventSink>(new Sink(Events));
            services.AddSingleton<IEngineLoader>(new Loader(Engine));
        }

        public List<string> Warnings() => Events.Where(e => e.Level >= LogEventLevel.Warning).Select(e => e.RenderMessage()).ToList();

        private sealed class Sink(ConcurrentQueue<LogEvent> events) : ILogEventSink
        {
            public void Emit(LogEvent logEvent) => events.Enqueue(logEvent);
        }

        private sealed class Loader(IReconstitutionEngine engine) : IEngineLoader
        {
            public IReconstitutionEngine Load(EngineOptions options) => engine;
        }
    }

    private static JsonObject Body(int seed)
    {
        var random = new Random(seed);
        var values = new float[4 * 8];
        for (var i = 0; i < values.Length; i++) values[i] = (float)random.NextDouble();
        return new()
        {
            ["residual"] = Wire.Tensor([4, 8], values),
            ["layerIndex"] = 0,
            ["nodeType"] = "mlp_neuron",
            ["preOrPostAct"] = "post",
        };
    }

    private static async Task<(string? XCache, byte[] Body)> PostAsync(HttpClient client, JsonObject body)
    {
        using var response = await client.PostJsonAsync("/v1/activations", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (response.Headers.TryGetValues("X-Cache", out var values) ? values.Single() : null, await response.Content.ReadAsByteArrayAsync());
    }

    /// <summary>Waits until the answer cache's entries reach Redis (written just after the answer is handed over).</summary>
    private static async Task<List<string>> StoredKeysAsync(RedisServer redis, int atLeast = 1)
    {
        var keys = new List<string>();
        for (var i = 0; i < 200 && keys.Count < atLeast; i++)
        {
            keys = redis.Keys(RedisSettings.InstanceName + AnswerCache.KeyVersion + "|");
            if (keys.Count < atLeast) await Task.Delay(50);
        }
        return keys;
    }

    [Fact]
    public async Task WithoutRedisTheCacheIsInProcessOnly()
    {
        using var replica = new Replica([]);
        using var client = await replica.ReadyClientAsync();
        Assert.Null(replica.Services.GetService<IDistributedCache>());
        Assert.Equal("miss", (await PostAsync(client, Body(1))).XCache);
        Assert.Equal("hit", (await PostAsync(client, Body(1))).XCache);
    }

    [SkippableFact]
    public async Task ARequestAnsweredByOneReplicaIsAHitOnAnother()
    {
        using var redis = RedisServer.StartOrSkip();
        using var a = new Replica(new() { ["Cache:Redis"] = redis.ConnectionString });
        using var b = new Replica(new() { ["Cache:Redis"] = redis.ConnectionString });
        using var clientA = await a.ReadyClientAsync();
        using var clientB = await b.ReadyClientAsync();
        Assert.IsType<SharedAnswerStore>(a.Services.GetService<IDistributedCache>());

        var first = await PostAsync(clientA, Body(2));
        Assert.Equal("miss", first.XCache);
        var key = Assert.Single(await StoredKeysAsync(redis));
        // reconservice:a1|<model identity>|activations|<route>|<media type>|<sha256 of the body>
        Assert.StartsWith($"{RedisSettings.InstanceName}{AnswerCache.KeyVersion}|{a.Services.GetRequiredService<ModelIdentity>().Value}|activations|", key);

        var second = await PostAsync(clientB, Body(2));
        Assert.Equal("hit", second.XCache);
        Assert.Equal(first.Body, second.Body);
        Assert.Equal(a.Services.GetRequiredService<ModelIdentity>().Value, b.Services.GetRequiredService<ModelIdentity>().Value);
    }

    [SkippableFact]
    public async Task ReplicasServingDifferentModelsNeverShareAnswers()
    {
        using var redis = RedisServer.StartOrSkip();
        using var model = new TempFolder();
        var embedded = Path.Combine(RepoPaths.Root, "models", "kjv-gpt2-tiny", "model");
        foreach (var file in Directory.GetFiles(embedded)) File.Copy(file, Path.Combine(model.Path, Path.GetFileName(file)));
        File.AppendAllText(Path.Combine(model.Path, "config.json"), "\n");   // another model, as far as its files say
        using var a = new Replica(new() { ["Cache:Redis"] = redis.ConnectionString });
        using var b = new Replica(new() { ["Cache:Redis"] = redis.ConnectionString, ["Model:Path"] = model.Path });
        using var clientA = await a.ReadyClientAsync();
        using var clientB = await b.ReadyClientAsync();

        Assert.Equal("miss", (await PostAsync(clientA, Body(3))).XCache);
        await StoredKeysAsync(redis);
        Assert.Equal("miss", (await PostAsync(clientB, Body(3))).XCache);
        Assert.Equal(2, (await StoredKeysAsync(redis, atLeast: 2)).Count);
        Assert.NotEqual(a.Services.GetRequiredService<ModelIdentity>().Value, b.Services.GetRequiredService<ModelIdentity>().Value);
    }

    [SkippableFact]
    public async Task WhenRedisStopsAnswersStillComeAndTheFailureIsLoggedAndCounted()
    {
        using var redis = RedisServer.StartOrSkip();
        using var replica = new Replica(new() { ["Cache:Redis"] = redis.ConnectionString });
        using var client = await replica.ReadyClientAsync();
        using var errors = new CacheErrors(replica.Services);
        Assert.Equal("miss", (await PostAsync(client, Body(4))).XCache);
        await StoredKeysAsync(redis);

        redis.Stop();
        for (var i = 0; i < 5; i++) Assert.Equal("miss", (await PostAsync(client, Body(100 + i))).XCache);
        Assert.Equal("hit", (await PostAsync(client, Body(4))).XCache);   // the in-process level still answers

        Assert.True(errors.Count >= 5, $"{errors.Count} cache errors counted");
        Assert.Contains(errors.Operations, o => o == "activations");
        Assert.Single(replica.Warnings(), w => w.Contains("Redis cache unavailable", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithNothingListeningAtCacheRedisTheServiceStartsAndAnswers()
    {
        using var replica = new Replica(new() { ["Cache:Redis"] = $"127.0.0.1:{RedisServer.FreePort()}" });
        using var client = await replica.ReadyClientAsync();
        using var errors = new CacheErrors(replica.Services);

        Assert.Equal("miss", (await PostAsync(client, Body(5))).XCache);
        Assert.Equal("hit", (await PostAsync(client, Body(5))).XCache);
        Assert.Equal("miss", (await PostAsync(client, Body(6))).XCache);
        Assert.True(errors.Count >= 2, $"{errors.Count} cache errors counted");
        Assert.Contains(replica.Warnings(), w => w.Contains("Redis cache unavailable", StringComparison.Ordinal));
    }

    [Fact]
    public void TheConnectionStringGetsShortTimeoutsAndNeverBlocksStartUpUnlessItSaysOtherwise()
    {
        var defaults = RedisSettings.Parse("redis:6379");
        Assert.Equal((1000, 2000, 2000, false), (defaults.ConnectTimeout, defaults.SyncTimeout, defaults.AsyncTimeout, defaults.AbortOnConnectFail));
        var given = RedisSettings.Parse("redis:6379,connectTimeout=300,syncTimeout=700,abortConnect=true");
        Assert.Equal((300, 700, 700, true), (given.ConnectTimeout, given.SyncTimeout, given.AsyncTimeout, given.AbortOnConnectFail));
    }

    [Fact]
    public async Task AFailingStoreIsAMissCountedAndLoggedOnceThenLeftAloneUntilTheRetryInterval()
    {
        var services = new ServiceCollection().AddMetrics().AddSingleton<ReconMetrics>().BuildServiceProvider();
        using var errors = new CacheErrors(services);
        var inner = new FlakyStore { Failing = true };
        var clock = new ManualClock();
        var logger = new ListLogger();
        var store = new SharedAnswerStore(inner, services.GetRequiredService<ReconMetrics>(), logger, clock);
        var key = "a1|identity|gradients|name=x|application/json|ABC";

        Assert.Null(await store.GetAsync(key));
        Assert.False(store.TryGet(key, new ArrayBufferWriter<byte>()));
        await store.SetAsync(key, [1, 2, 3], new DistributedCacheEntryOptions());
        Assert.Equal(1, inner.Calls);                        // only the first call reached the store
        Assert.Equal(3, errors.Count);
        Assert.Equal(["get", "get", "set"], errors.Actions);
        Assert.All(errors.Operations, o => Assert.Equal("gradients", o));
        Assert.Single(logger.Lines, l => l.StartsWith("Warning Redis cache unavailable (get failed: RedisTimeoutException", StringComparison.Ordinal));
        Assert.True(store.IsFailing);

        clock.Advance(SharedAnswerStore.RetryInterval);
        inner.Failing = false;
        await store.SetAsync(key, [1, 2, 3], new DistributedCacheEntryOptions());
        Assert.Equal([1, 2, 3], await store.GetAsync(key));
        Assert.Equal(3, inner.Calls);
        Assert.False(store.IsFailing);
        Assert.Contains("Information Redis cache reachable again", logger.Lines);
        Assert.Equal(3, errors.Count);
        Assert.Equal("other", AnswerCache.OperationOf("__MSFT_HCT__*"));
    }

    [Fact]
    public async Task TheCallersCancellationIsPassedOnNotCounted()
    {
        var services = new ServiceCollection().AddMetrics().AddSingleton<ReconMetrics>().BuildServiceProvider();
        using var errors = new CacheErrors(services);
        var store = new SharedAnswerStore(new FlakyStore(), services.GetRequiredService<ReconMetrics>(), NullLogger<SharedAnswerStore>.Instance);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.GetAsync("a1|x|activations||m|0", cancelled.Token));
        Assert.Equal(0, errors.Count);
        Assert.False(store.IsFailing);
    }

    /// <summary>An in-memory store that fails like an unreachable Redis while <see cref="Failing"/>.</summary>
    private sealed class FlakyStore : IDistributedCache
    {
        private readonly ConcurrentDictionary<string, byte[]> _values = new();
        public bool Failing { get; set; }
        public int Calls;

        private void Enter(CancellationToken token = default)
        {
            Interlocked.Increment(ref Calls);
            token.ThrowIfCancellationRequested();
            if (Failing) throw new StackExchange.Redis.RedisTimeoutException("Timeout awaiting response (test)", StackExchange.Redis.CommandStatus.Unknown);
        }

        public byte[]? Get(string key) { Enter(); return _values.GetValueOrDefault(key); }
        public Task<byte[]?> GetAsync(string key, CancellationToken token = default) { Enter(token); return Task.FromResult(_values.GetValueOrDefault(key)); }
        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) { Enter(); _values[key] = value; }
        public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default) { Set(key, value, options); return Task.CompletedTask; }
        public void Refresh(string key) => Enter();
        public Task RefreshAsync(string key, CancellationToken token = default) { Enter(token); return Task.CompletedTask; }
        public void Remove(string key) { Enter(); _values.TryRemove(key, out _); }
        public Task RemoveAsync(string key, CancellationToken token = default) { Remove(key); return Task.CompletedTask; }
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1_000_000;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Interlocked.Read(ref _ticks);
        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    private sealed class ListLogger : ILogger<SharedAnswerStore>
    {
        public ConcurrentQueue<string> Lines { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue($"{logLevel} {formatter(state, exception)}");
    }

    /// <summary><c>recon.cache.errors</c> of one service provider's meter.</summary>
    private sealed class CacheErrors : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(string? Operation, string? Action)> _seen = new();

        public CacheErrors(IServiceProvider services)
        {
            var factory = services.GetRequiredService<IMeterFactory>();
            services.GetRequiredService<ReconMetrics>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "recon.cache.errors" && ReferenceEquals(instrument.Meter.Scope, factory))
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                string? operation = null, action = null;
                foreach (var (k, v) in tags)
                {
                    if (k == "operation") operation = v?.ToString();
                    if (k == "action") action = v?.ToString();
                }
                for (var i = 0; i < value; i++) _seen.Enqueue((operation, action));
            });
            _listener.Start();
        }

        public int Count => _seen.Count;
        public List<string?> Operations => _seen.Select(s => s.Operation).ToList();
        public List<string?> Actions => _seen.Select(s => s.Action).ToList();

        public void Dispose() => _listener.Dispose();
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("recon-model-").FullName;
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
