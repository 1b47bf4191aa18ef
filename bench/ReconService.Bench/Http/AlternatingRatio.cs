using System.Diagnostics;
using ReconService.Bench.Benchmarks;
using static TorchSharp.torch;

namespace ReconService.Bench.Http;

/// <summary>
/// The HTTP / in-process ratio of MLP post measured with the three calls interleaved: one HTTP request, one in-process
/// call, one bare-transport exchange, repeated, then medians. Load that comes and goes on a shared machine then falls on
/// all three alike, which BenchmarkDotNet's separate cases (minutes apart, five calls each) cannot give.
/// </summary>
internal static class AlternatingRatio
{
    /// <summary>Medians in ms: HTTP, in-process, bare transport.</summary>
    public sealed record Figures(int Tokens, int Rounds, double Http, double InProcess, double Floor)
    {
        public double Ratio => Http / InProcess;

        public double FloorRatio => (InProcess + Floor) / InProcess;
    }

    public static List<Figures> Results { get; } = [];

    public static void Run()
    {
        foreach (var tokens in Workload.Tokens)
        {
            var rounds = tokens >= 1024 ? 20 : 60;
            var bench = new HttpBenchmarks { Tokens = tokens, Batch = 1 };
            bench.Setup();
            var engine = ApiServer.Engine;
            var (x, write) = Workload.RandomInputs(tokens, 1);
            write.Dispose();
            using var residual = x;
            var http = new List<double>();
            var local = new List<double>();
            var floor = new List<double>();
            for (var i = 0; i < rounds + 3; i++)
            {
                var sw = Stopwatch.StartNew();
                bench.MlpPost().GetAwaiter().GetResult();
                var h = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                engine.Activations(x, Workload.MlpPost).Dispose();
                var l = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                bench.MlpPostTransportFloor().GetAwaiter().GetResult();
                var f = sw.Elapsed.TotalMilliseconds;
                if (i < 3) continue; // warm-up rounds
                http.Add(h);
                local.Add(l);
                floor.Add(f);
            }
            Results.Add(new Figures(tokens, rounds, Workload.Median(http), Workload.Median(local), Workload.Median(floor)));
        }
    }
}
