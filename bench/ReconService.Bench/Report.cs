using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using BenchmarkDotNet.Reports;
using ReconService.Bench.Benchmarks;

namespace ReconService.Bench;

/// <summary>The run's figures as Markdown: medians of each benchmark, and the ratios the targets are set on.</summary>
internal sealed class Report
{
    private readonly Dictionary<string, double> _ms = [];
    private readonly StringBuilder _md = new();

    private Report(IEnumerable<Summary> summaries)
    {
        foreach (var r in summaries.SelectMany(s => s.Reports))
        {
            if (r.ResultStatistics is null) continue;
            var c = r.BenchmarkCase;
            var key = c.Descriptor.Type.Name + "." + c.Descriptor.WorkloadMethod.Name
                + string.Concat(c.Parameters.Items.OrderBy(p => p.Name).Select(p => $"|{p.Name}={p.Value}"));
            _ms[key] = r.ResultStatistics.Median / 1e6;
        }
    }

    public static string Build(IEnumerable<Summary> summaries, LoadFigures load, TimeSpan elapsed)
    {
        var report = new Report(summaries);
        report.Write(load, elapsed);
        return report._md.ToString();
    }

    private double? Ms(string type, string method, params (string Name, int Value)[] parameters)
    {
        var key = type + "." + method + string.Concat(parameters.OrderBy(p => p.Name).Select(p => $"|{p.Name}={p.Value}"));
        return _ms.TryGetValue(key, out var v) ? v : null;
    }

    private double? Engine(string method, int tokens, int batch) => Ms(nameof(EngineBenchmarks), method, ("Batch", batch), ("Tokens", tokens));

    private static string F(double? v, string format = "F1") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "–";

    private static double? Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 ? x / y : null;

    private void Line(string s = "") => _md.AppendLine(s);

    private void Write(LoadFigures load, TimeSpan elapsed)
    {
        Line($"# ReconService benchmarks ({(Workload.Quick ? "quick" : "full")} run)");
        Line();
        Line($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC · {Cpu()} · {Environment.ProcessorCount} logical cores · {RuntimeInformation.OSDescription} · "
            + $".NET {Environment.Version} · TorchSharp intra-op threads {BenchFixture.Threads} · run took {elapsed.TotalMinutes:F1} min. "
            + "Medians of a short BenchmarkDotNet job (in-process, one call per iteration, 5 iterations (3 with --quick) after 1 warm-up call, 3 for the engine, HTTP and concurrency cases, no forced GC between calls). The machine is shared: "
            + "absolute figures are noisy; compare the ratios, which come from one run. "
            + $"Load average (1 min) at start {LoadAtStart}, at end {LoadAverage()} (above 2 means other work shared these 2 cores).");
        Line();
        Line("GPT-2-small-shaped random weights (d_model 768, 12 layers, 12 heads, d_ff 3072, vocab 50257, n_ctx 1024), "
            + $"32768-latent ReLU autoencoder on mlp.post_act; activations of layer {Workload.Layer}. Residuals are random. Times in ms.");
        Line();

        Line("## Model load");
        Line();
        Line("| load time (s) | resident memory after load (MiB) | growth during load (MiB) |");
        Line("|---:|---:|---:|");
        Line($"| {load.Seconds:F2} | {load.ResidentBytes / 1048576.0:F0} | {load.GrowthBytes / 1048576.0:F0} |");
        Line();

        Line("## Engine in-process");
        Line();
        string[] methods = ["AttentionPre", "AttentionPost", "MlpPost", "AutoencoderPost", "MlpPostGradient", "MlpPostJvp",
            "AttentionPostGradient", "AttentionPostJvp", "Logprobs"];
        Line("| tokens × batch | attn pre | attn post | MLP post | AE post | MLP grad | MLP JVP | attn grad | attn JVP | logprobs | MLP grad/act | MLP JVP/act | attn grad/act | attn JVP/act |");
        Line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var batch in Workload.Batches)
            foreach (var tokens in Workload.Tokens)
            {
                var v = methods.Select(m => Engine(m, tokens, batch)).ToArray();
                Line($"| {tokens} × {batch} | {string.Join(" | ", v.Select(x => F(x)))} | {F(Ratio(v[4], v[2]), "F2")} | {F(Ratio(v[5], v[2]), "F2")} "
                    + $"| {F(Ratio(v[6], v[1]), "F2")} | {F(Ratio(v[7], v[1]), "F2")} |");
            }
        Line();

        Line("## HTTP on loopback (base64) vs in-process");
        Line();
        Line("The real service (src/Api) on Kestrel at 127.0.0.1 in the same process, its own engine loaded from the same files, "
            + "response cache off; the client posts a prepared base64 JSON body, reads the whole answer and decodes its tensor. Times in ms.");
        Line();
        string[] httpMethods = ["MlpPost", "AttentionPost", "MlpPostGradient", "MlpPostJvp"];
        string[] inProcess = ["MlpPost", "AttentionPost", "MlpPostGradient", "MlpPostJvp"];
        Line("| tokens × batch | MLP post HTTP | in-process | ratio | attn post HTTP | in-process | ratio | MLP grad HTTP | in-process | ratio | MLP JVP HTTP | in-process | ratio |");
        Line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var batch in Workload.Batches)
            foreach (var tokens in Workload.Tokens)
            {
                var cells = httpMethods.Select((m, i) =>
                {
                    var h = Ms(nameof(Http.HttpBenchmarks), m, ("Batch", batch), ("Tokens", tokens));
                    var e = Engine(inProcess[i], tokens, batch);
                    return $"{F(h)} | {F(e)} | {F(Ratio(h, e), "F2")}";
                });
                Line($"| {tokens} × {batch} | {string.Join(" | ", cells)} |");
            }
        Line();

        Line("### The transport floor (MLP post)");
        Line();
        Line("The same request body posted to a bare Kestrel endpoint that reads it and answers with as many bytes as the service's answer "
            + "(no JSON, no base64, no engine; `Http/BareServer.cs`), read by the same client: what ASP.NET Core and HttpClient on loopback cost "
            + "for those bytes alone on this machine. No service on this stack can beat in-process + floor; the last column is what the service "
            + "adds beyond it (JSON, base64 both ways, the client's decode, routing, validation, limits).");
        Line();
        Line("| tokens × batch | request + answer (MB) | in-process | HTTP | bare transport | (in-process + bare) / in-process | HTTP − in-process − bare |");
        Line("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var tokens in Workload.Tokens)
        {
            var h = Ms(nameof(Http.HttpBenchmarks), "MlpPost", ("Batch", 1), ("Tokens", tokens));
            var e = Engine("MlpPost", tokens, 1);
            var floor = Ms(nameof(Http.HttpBenchmarks), "MlpPostTransportFloor", ("Batch", 1), ("Tokens", tokens));
            var megabytes = (tokens * 768 + tokens * 3072) * 4 / 3.0 * 4 / 1e6;
            Line($"| {tokens} × 1 | {megabytes:F1} | {F(e)} | {F(h)} | {F(floor)} | {F(Ratio(e + floor, e), "F2")} | {F(h - e - floor)} |");
        }
        Line();

        Line("### Interleaved rounds (MLP post, one sequence)");
        Line();
        Line("The target's ratio measured a second way: one HTTP request, one in-process call and one bare-transport exchange in turn, "
            + "repeated, medians (`Http/AlternatingRatio.cs`). Load that comes and goes on the shared machine falls on all three alike, "
            + "where the table above compares cases measured minutes apart from five calls each.");
        Line();
        Line("| tokens | rounds | HTTP | in-process | ratio | bare transport | (in-process + bare) / in-process |");
        Line("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in Http.AlternatingRatio.Results)
            Line($"| {r.Tokens} | {r.Rounds} | {F(r.Http)} | {F(r.InProcess)} | {F(r.Ratio, "F2")} | {F(r.Floor)} | {F(r.FloorRatio, "F2")} |");
        Line();

        Line("## Tensor codec alone");
        Line();
        Line("GB/s of raw float32 tensor bytes (10^9 bytes/s): decode = `TensorCodec.Decode` (base64 → new tensor); "
            + "encode = an answer payload over the tensor's memory + JSON serialization of the response (tensor → base64 JSON in a reused buffer).");
        Line();
        Line("| tensor | MiB | decode (ms) | decode GB/s | encode + JSON (ms) | encode GB/s |");
        Line("|---|---:|---:|---:|---:|---:|");
        var codecMin = double.MaxValue;
        foreach (var width in new[] { 768, 3072 })
        {
            var bytes = 1024.0 * width * sizeof(float);
            var decode = Ms(nameof(CodecBenchmarks), "Decode", ("Width", width));
            var encode = Ms(nameof(CodecBenchmarks), "EncodeAndSerialize", ("Width", width));
            double? decodeRate = decode is { } d ? bytes / (d / 1e3) / 1e9 : null, encodeRate = encode is { } en ? bytes / (en / 1e3) / 1e9 : null;
            codecMin = Math.Min(codecMin, Math.Min(decodeRate ?? double.MaxValue, encodeRate ?? double.MaxValue));
            Line($"| [1024, {width}] | {bytes / 1048576:F0} | {F(decode, "F2")} | {F(decodeRate, "F2")} | {F(encode, "F2")} | {F(encodeRate, "F2")} |");
        }
        Line();

        var matmul = Ms(nameof(MachineBenchmarks), "Matmul");
        var linear = Ms(nameof(MachineBenchmarks), "Linear");
        var mlp = Ms(nameof(MachineBenchmarks), "MlpPost1024");
        double? Gflops(double? ms) => ms is { } x ? MachineBenchmarks.MatmulFlops / (x / 1e3) / 1e9 : null;
        var best = new[] { Gflops(matmul), Gflops(linear) }.Max();
        Line("## Compute efficiency (measured back to back in one class)");
        Line();
        Line("MLP post's FLOPs are counted as its one `[1024, 768] × [768, 3072]` product only (2·T·d_model·d_ff = 4.83 GFLOP); "
            + "layer norm, bias and GELU (~0.02 GFLOP) are left out, so the figure slightly understates the work done. "
            + "The reference is the faster of the two plain forms of the same product.");
        Line();
        Line("| plain matmul `[1024,768]×[768,3072]` | same product as `linear` (weight `[3072,768]`) | MLP post at 1024 tokens | MLP post / best plain |");
        Line("|---:|---:|---:|---:|");
        Line($"| {F(Gflops(matmul))} GFLOP/s ({F(matmul, "F2")} ms) | {F(Gflops(linear))} GFLOP/s ({F(linear, "F2")} ms) | {F(Gflops(mlp))} GFLOP/s ({F(mlp, "F2")} ms) | {F(Ratio(Gflops(mlp), best) * 100, "F0")} % |");
        Line();

        Line("## Intra-op threads for concurrent requests (MLP post, 256 tokens)");
        Line();
        Line("| intra-op threads | one request (ms) | two concurrent requests (ms) | requests/s when concurrent |");
        Line("|---:|---:|---:|---:|");
        foreach (var threads in new[] { 1, 2 })
        {
            var one = Ms(nameof(ConcurrencyBenchmarks), "OneRequest", ("Threads", threads));
            var two = Ms(nameof(ConcurrencyBenchmarks), "TwoConcurrentRequests", ("Threads", threads));
            Line($"| {threads} | {F(one)} | {F(two)} | {F(two is { } t ? 2000 / t : null)} |");
        }
        Line();

        var gradMax = Workload.Batches.SelectMany(b => Workload.Tokens.Select(t => Ratio(Engine("MlpPostGradient", t, b), Engine("MlpPost", t, b)))).Max();
        var jvpMax = Workload.Batches.SelectMany(b => Workload.Tokens.Select(t => Ratio(Engine("MlpPostJvp", t, b), Engine("MlpPost", t, b)))).Max();
        var attnGradMax = Workload.Batches.SelectMany(b => Workload.Tokens.Select(t => Ratio(Engine("AttentionPostGradient", t, b), Engine("AttentionPost", t, b)))).Max();
        var attnJvpMax = Workload.Batches.SelectMany(b => Workload.Tokens.Select(t => Ratio(Engine("AttentionPostJvp", t, b), Engine("AttentionPost", t, b)))).Max();
        if (Workload.Skipped.Count > 0)
        {
            Line("## Left out (– in the tables)");
            Line();
            foreach (var reason in Workload.Skipped.Order(StringComparer.Ordinal)) Line($"- {reason}");
            Line();
        }

        Line("## Targets");
        Line();
        Line("| target | measured | met |");
        Line("|---|---:|:---:|");
        var http256 = Ratio(Ms(nameof(Http.HttpBenchmarks), "MlpPost", ("Batch", 1), ("Tokens", 256)), Engine("MlpPost", 256, 1));
        Target("HTTP / in-process ≤ 1.15, BenchmarkDotNet cases (MLP post, 256 tokens, batch 1)", http256, "×", v => v <= 1.15);
        var interleaved = Http.AlternatingRatio.Results.FirstOrDefault(r => r.Tokens == 256);
        Target("HTTP / in-process ≤ 1.15, interleaved rounds (MLP post, 256 tokens)", interleaved?.Ratio, "×", v => v <= 1.15);
        Line($"| (for reference, interleaved: the bare transport alone gives (in-process + floor) / in-process = {F(interleaved?.FloorRatio, "F2")}×) | | |");
        Target("codec ≥ 1 GB/s each way (slowest of decode/encode, both sizes)", codecMin == double.MaxValue ? null : codecMin, " GB/s", v => v >= 1);
        Target("MLP post at 1024 tokens ≥ 60 % of plain-matmul GFLOP/s", Ratio(Gflops(mlp), best) * 100, " %", v => v >= 60);
        Target("gradient ≤ 3× activation (MLP post, worst size)", gradMax, "×", v => v <= 3);
        Target("JVP ≤ 4× activation (MLP post, worst size)", jvpMax, "×", v => v <= 4);
        Target("gradient ≤ 3× activation (attention post, worst size)", attnGradMax, "×", v => v <= 3);
        Target("JVP ≤ 4× activation (attention post, worst size)", attnJvpMax, "×", v => v <= 4);
    }

    private void Target(string name, double? value, string unit, Func<double, bool> met) =>
        Line($"| {name} | {F(value, "F2")}{unit} | {(value is { } v ? met(v) ? "yes" : "**no**" : "–")} |");

    /// <summary>The 1-minute load average when the run started.</summary>
    public static string LoadAtStart { get; set; } = "?";

    public static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }

    private static string Cpu()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException) { return RuntimeInformation.ProcessArchitecture.ToString(); }
    }
}
