using System.Diagnostics;
using ReconService.Bench.Benchmarks;
using static TorchSharp.torch;

namespace ReconService.Bench;

/// <summary><c>--probe</c>: a few Stopwatch timings without BenchmarkDotNet, for quick looks while optimising.</summary>
internal static class Probe
{
    public static void Run(string? filter)
    {
        _filter = filter;
        var engine = BenchFixture.Engine;
        Console.WriteLine($"load {BenchFixture.Figures}");
        foreach (var tokens in new[] { 256, 1024 })
        {
            var x = randn([tokens, 768], generator: new Generator(1)).DetachFromDisposeScope();
            var w = randn([tokens, 768], generator: new Generator(2)).DetachFromDisposeScope();
            Time($"{tokens} matmul", () => matmul(randn(tokens, 768), randn(768, 3072)).Dispose());
            Time($"{tokens} mlp post", () => engine.Activations(x, Workload.MlpPost).Dispose());
            Time($"{tokens} mlp grad", () => engine.Gradient(x, Workload.MlpPost, [tokens - 1, 7]).Dispose());
            Time($"{tokens} mlp jvp", () => engine.Jvp(x, Workload.MlpPost, w).Dispose());
            Time($"{tokens} attn pre", () => engine.Activations(x, Workload.AttnPre).Dispose());
            Time($"{tokens} attn post", () => engine.Activations(x, Workload.AttnPost).Dispose());
            Time($"{tokens} attn jvp", () => engine.Jvp(x, Workload.AttnPost, w).Dispose());
            Time($"{tokens} logprobs", () => engine.Logprobs(x).Dispose());
        }
    }

    private static string? _filter;

    private static void Time(string name, Action action)
    {
        if (_filter is not null && !name.Contains(_filter, StringComparison.Ordinal)) return;
        action();
        var times = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        Console.WriteLine($"{name,-20} {times[1],9:F1} ms (min {times[0]:F1})");
    }
}

/// <summary><c>--probe-http</c>: where the time of a loopback request goes (server-side time from the request log).</summary>
internal static class HttpProbe
{
    public static void Run()
    {
        Http.ApiServer.LogRequests = true;
        var bench = new Http.HttpBenchmarks();
        var client = Http.ApiServer.Client;
        for (var i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            using var live = client.GetAsync("/health/live").GetAwaiter().GetResult();
            var get = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            bench.Tokens = 1;
            bench.Batch = 1;
            if (i == 0) bench.Setup();
            bench.MlpPost().GetAwaiter().GetResult();
            Console.WriteLine($"GET /health/live {get:F1} ms; POST activations at 1 token {sw.Elapsed.TotalMilliseconds:F1} ms");
        }
        foreach (var tokens in new[] { 64, 256, 1024 })
        {
            bench.Tokens = tokens;
            bench.Batch = 1;
            bench.Setup();
            var engine = Http.ApiServer.Engine;
            using var x = randn([tokens, 768], generator: new Generator(42));
            foreach (var (name, call, spec) in new (string, Func<Task>, ReconService.Engine.Reconstitution.ActivationSpec)[]
                     { ("mlp post", bench.MlpPost, Workload.MlpPost), ("attn post", bench.AttentionPost, Workload.AttnPost) })
            {
                var walls = new List<(double Http, double InProcess)>();
                var cpus = new List<(double Http, double InProcess)>();
                var process = Process.GetCurrentProcess();
                for (var i = 0; i < 8; i++)
                {
                    process.Refresh();
                    var cpu = process.TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    call().GetAwaiter().GetResult();
                    var http = sw.Elapsed.TotalMilliseconds;
                    process.Refresh();
                    var httpCpu = (process.TotalProcessorTime - cpu).TotalMilliseconds;
                    cpu = process.TotalProcessorTime;
                    sw.Restart();
                    engine.Activations(x, spec).Dispose();
                    var local = sw.Elapsed.TotalMilliseconds;
                    process.Refresh();
                    var localCpu = (process.TotalProcessorTime - cpu).TotalMilliseconds;
                    walls.Add((http, local));
                    cpus.Add((httpCpu, localCpu));
                    Console.WriteLine($"{tokens} {name,-12} client {http,9:F1} ms (CPU {httpCpu,6:F1})   in-process {local,9:F1} ms (CPU {localCpu,6:F1})");
                }
                Console.WriteLine($"== {tokens} {name}: median wall HTTP {Workload.Median(walls.Select(w => w.Http)):F1} / in-process {Workload.Median(walls.Select(w => w.InProcess)):F1} ms " +
                                  $"(ratio {Workload.Median(walls.Select(w => w.Http)) / Workload.Median(walls.Select(w => w.InProcess)):F2}), min {walls.Min(w => w.Http):F1} / {walls.Min(w => w.InProcess):F1}; " +
                                  $"median CPU {Workload.Median(cpus.Select(c => c.Http)):F1} / {Workload.Median(cpus.Select(c => c.InProcess)):F1} ms");
            }
        }
        Http.ApiServer.StopIfStarted();
    }
}

/// <summary>
/// <c>--probe-json</c>: request JSON reading from a byte array, a stream and a pipe (4 KiB chunks), next to a bare reader
/// pass, the tensor converter alone and a copy / base64 decode into fresh arrays (the cost of touching new memory).
/// </summary>
internal static class JsonProbe
{
    public static void Run()
    {
        var options = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        foreach (var tokens in new[] { 256, 1024, 4096 })
        {
            using var x = randn([tokens, 768]);
            var body = System.Text.Encoding.UTF8.GetBytes(
                $"{{\"residual\":{{\"dtype\":\"float32\",\"shape\":[{tokens},768],\"data\":\"{Convert.ToBase64String(x.bytes)}\"}},\"layerIndex\":6,\"nodeType\":\"mlp_neuron\",\"preOrPostAct\":\"post\"}}");
            for (var i = 0; i < 3; i++)
            {
                var sw = Stopwatch.StartNew();
                System.Text.Json.JsonSerializer.Deserialize<ReconService.Models.Wire.ActivationsRequest>(body, options);
                var a = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                System.Text.Json.JsonSerializer.DeserializeAsync<ReconService.Models.Wire.ActivationsRequest>(new MemoryStream(body), options).AsTask().GetAwaiter().GetResult();
                var b = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                var pipe = System.IO.Pipelines.PipeReader.Create(new MemoryStream(body), new System.IO.Pipelines.StreamPipeReaderOptions(bufferSize: 4096));
                System.Text.Json.JsonSerializer.DeserializeAsync<ReconService.Models.Wire.ActivationsRequest>(pipe, options).AsTask().GetAwaiter().GetResult();
                var c = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                var raw = new System.Text.Json.Utf8JsonReader(body);
                while (raw.Read()) { }
                var d = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                var converter = new System.Text.Json.Utf8JsonReader(body);
                converter.Read(); converter.Read(); converter.Read();
                new ReconService.Models.Tensors.TensorPayloadJsonConverter().Read(ref converter, typeof(ReconService.Models.Tensors.TensorPayload), options);
                var e = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                var copy = body.AsSpan().ToArray();
                var f = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                var decoded = new byte[body.Length];
                System.Buffers.Text.Base64.DecodeFromUtf8(body.AsSpan(body.AsSpan().IndexOf("\"data\":\""u8) + 8, tokens * 768 * 4 / 3 * 4), decoded, out _, out _);
                var g = sw.Elapsed.TotalMilliseconds;
                GC.KeepAlive(copy);
                Console.WriteLine($"{tokens} tokens, {body.Length / 1e6:F1} MB: bytes {a:F1} ms, stream {b:F1} ms, pipe(4K) {c:F1} ms, raw reader {d:F1} ms, converter alone {e:F1} ms, " +
                                  $"body copied into a new array {f:F2} ms, base64 decoded into a new array {g:F2} ms");
            }
        }
    }
}
