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
