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
            + "Medians of a short BenchmarkDotNet job (in-process, 1 warm-up, few iterations of one call each). The machine is shared: "
            + "absolute figures are noisy; compare the ratios, which come from one run.");
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

        var matmul = Ms(nameof(MachineBenchmarks), "Matmul");
        var mlp = Engine("MlpPost", 1024, 1);
        double? matmulGflops = matmul is { } a ? MachineBenchmarks.MatmulFlops / (a / 1e3) / 1e9 : null;
        double? mlpGflops = mlp is { } b ? MachineBenchmarks.MatmulFlops / (b / 1e3) / 1e9 : null;
        Line("## Compute efficiency");
        Line();
        Line("| plain [1024,768]×[768,3072] matmul | MLP post at 1024 tokens (its matmul FLOPs only) | MLP post / matmul |");
        Line("|---:|---:|---:|");
        Line($"| {F(matmulGflops)} GFLOP/s ({F(matmul, "F2")} ms) | {F(mlpGflops)} GFLOP/s ({F(mlp, "F2")} ms) | {F(Ratio(mlpGflops, matmulGflops) * 100, "F0")} % |");
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
        Line("## Targets");
        Line();
        Line("| target | measured | met |");
        Line("|---|---:|:---:|");
        Target("MLP post at 1024 tokens ≥ 60 % of plain-matmul GFLOP/s", Ratio(mlpGflops, matmulGflops) * 100, " %", v => v >= 60);
        Target("gradient ≤ 3× activation (MLP post, worst size)", gradMax, "×", v => v <= 3);
        Target("JVP ≤ 4× activation (MLP post, worst size)", jvpMax, "×", v => v <= 4);
        Target("gradient ≤ 3× activation (attention post, worst size)", attnGradMax, "×", v => v <= 3);
        Target("JVP ≤ 4× activation (attention post, worst size)", attnJvpMax, "×", v => v <= 4);
    }

    private void Target(string name, double? value, string unit, Func<double, bool> met) =>
        Line($"| {name} | {F(value, "F2")}{unit} | {(value is { } v ? met(v) ? "yes" : "**no**" : "–")} |");

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
