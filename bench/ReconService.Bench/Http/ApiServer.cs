using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using ReconService.Api.Hosting;

namespace ReconService.Bench.Http;

/// <summary>
/// The real service (src/Api's <c>Program</c>) on Kestrel at 127.0.0.1 with an ephemeral port, in this process, loading
/// the benchmark weights through its own configuration (<c>Model:Path</c>, <c>Autoencoders:&lt;name&gt;:Path</c>).
/// The response cache is off so every request is computed; body limit and queue are sized for batch 8 × 1024 tokens.
/// </summary>
internal sealed class ApiServer : WebApplicationFactory<Program>
{
    private static readonly Lazy<(ApiServer Server, HttpClient Client)> Started = new(Start);

    public static HttpClient Client => Started.Value.Client;

    /// <summary>The service's own engine (for in-process timings on the very same weights).</summary>
    public static ReconService.Engine.IReconstitutionEngine Engine =>
        Started.Value.Server.Services.GetRequiredService<EngineHost>().Engine;

    /// <summary>Keep the service's one-line-per-request log (with its own elapsed time); for <c>--probe-http</c>.</summary>
    public static bool LogRequests { get; set; }

    /// <summary>Queue:IntraOpThreads for the service (0: its per-request choice); null: the benchmarks' own count.</summary>
    public static int? IntraOpThreadsOverride { get; set; }

    /// <summary>Settings applied over <see cref="Settings"/> (for <c>--probe-budget</c>); set before the server starts.</summary>
    public static Dictionary<string, string?> ExtraSettings { get; } = [];

    /// <summary>Record server-side timestamps of each request (<see cref="StampFilter"/>); for <c>--probe-phases</c>.</summary>
    public static bool StampRequests { get; set; }

    public static void StopIfStarted()
    {
        if (!Started.IsValueCreated) return;
        Started.Value.Client.Dispose();
        Started.Value.Server.Dispose();
    }

    public static IReadOnlyDictionary<string, string?> Settings(Weights.BenchWeights weights) => new Dictionary<string, string?>
    {
        ["Model:Path"] = weights.ModelFolder,
        [$"Autoencoders:{BenchFixture.AutoencoderName}:Path"] = weights.AutoencoderFolder,
        ["Autoencoders:" + BenchFixture.AutoencoderName + ":InputType"] = "mlp.post_act",
        ["Cache:Enabled"] = "false",
        // Batch 8 × 1024 tokens: a JVP body (residual + write vector) is ~67 MB of base64 JSON.
        ["Limits:MaxRequestBodyBytes"] = (512L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture),
        // Above the service's default answer limit (2^26 ≈ 67M values), so that batched benchmark answers are never refused.
        ["Limits:MaxResponseElements"] = "100000000",
        ["Queue:Concurrency"] = "2",
        ["Queue:Length"] = "64",
        // The same intra-op threads as the in-process benchmarks, so that the ratio compares like with like
        // (the service's own default, 0, chooses per request; --probe-load compares the two).
        ["Queue:IntraOpThreads"] = (IntraOpThreadsOverride ?? BenchFixture.Threads).ToString(System.Globalization.CultureInfo.InvariantCulture),
        // One event per request to the console would interleave with BenchmarkDotNet's output; warnings still show.
        ["Serilog:MinimumLevel:Default"] = "Warning",
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        if (StampRequests) builder.ConfigureServices(s => s.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter, StampFilter>());
        if (LogRequests) builder.ConfigureServices(s => s.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter, PhaseTimer>());
        foreach (var (key, value) in Settings(BenchFixture.Weights).Concat(ExtraSettings))
            if (!(LogRequests && key.StartsWith("Serilog", StringComparison.Ordinal))) builder.UseSetting(key, value);
    }

    private static (ApiServer, HttpClient) Start()
    {
        // WebApplicationFactory looks for the app's content root next to the solution under the assembly's name; say where it is.
        Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_RECONSERVICE_API", Path.Combine(BenchFixture.RepoRoot, "src", "Api"));
        var server = new ApiServer();
        server.UseKestrel(0);
        server.StartServer();
        // The factory's own client adds test conveniences (a redirect handler that copies every request body into a
        // MemoryStream, cookies); a plain SocketsHttpHandler client at the same Kestrel address is what a real caller uses.
        Uri address;
        using (var factoryClient = server.CreateClient()) address = factoryClient.BaseAddress!;
        var client = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromMinutes(5),
        };
        var host = server.Services.GetRequiredService<EngineHost>();
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (true)
        {
            if (host.LoadError is { } error) throw new InvalidOperationException("the service failed to load the benchmark weights", error);
            using (var ready = client.GetAsync("/health/ready").GetAwaiter().GetResult())
                if (ready.StatusCode == HttpStatusCode.OK) break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the service did not become ready");
            Thread.Sleep(100);
        }
        Console.WriteLine($"// API on {client.BaseAddress} (Kestrel, loopback), weights loaded, cache off");
        return (server, client);
    }
}

/// <summary>For <c>--probe-http</c>: prints when the response started (body read, bound, computed) and when it was sent.</summary>
internal sealed class PhaseTimer : Microsoft.AspNetCore.Hosting.IStartupFilter
{
    public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
    {
        app.Use((Microsoft.AspNetCore.Http.RequestDelegate inner) => async http =>
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var (g0, g1, g2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            var (allocated, paused) = (GC.GetTotalAllocatedBytes(), GC.GetTotalPauseDuration());
            double started = 0;
            http.Response.OnStarting(() => { started = sw.Elapsed.TotalMilliseconds; return Task.CompletedTask; });
            await inner(http);
            Console.WriteLine($"   server: response started {started:F1} ms, body written {sw.Elapsed.TotalMilliseconds:F1} ms; " +
                              $"GCs {GC.CollectionCount(0) - g0}/{GC.CollectionCount(1) - g1}/{GC.CollectionCount(2) - g2}, " +
                              $"allocated {(GC.GetTotalAllocatedBytes() - allocated) / 1e6:F1} MB, GC pause {(GC.GetTotalPauseDuration() - paused).TotalMilliseconds:F1} ms; " +
                              $"intra-op threads here {TorchSharp.torch.get_num_threads()}");
        });
        next(app);
    };
}

/// <summary>For <c>--probe-phases</c>: when the server saw each request start, its response start, and its end.</summary>
internal sealed class StampFilter : Microsoft.AspNetCore.Hosting.IStartupFilter
{
    /// <summary>Stopwatch timestamps of the last request the server finished.</summary>
    public static (long Start, long ResponseStarted, long End) Last { get; private set; }

    public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
    {
        app.Use((Microsoft.AspNetCore.Http.RequestDelegate inner) => async http =>
        {
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            long started = 0;
            http.Response.OnStarting(() => { started = System.Diagnostics.Stopwatch.GetTimestamp(); return Task.CompletedTask; });
            await inner(http);
            Last = (start, started, System.Diagnostics.Stopwatch.GetTimestamp());
        });
        next(app);
    };
}
