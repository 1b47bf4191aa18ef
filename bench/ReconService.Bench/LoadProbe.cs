using System.Diagnostics;

namespace ReconService.Bench;

/// <summary>
/// <c>--probe-load [intra-op threads] [--clients a,b,..] [--seconds S]</c>: MLP post at 256 tokens over HTTP from 1, 2
/// and 4 clients at once, each sending its next request when the last answer is read, for a few seconds each: requests
/// per second and median latency, with the service's <c>Queue:IntraOpThreads</c> set as given (0 = per-request choice).
/// </summary>
internal static class LoadProbe
{
    public static void Run(int intraOpThreads, int[] clients, double seconds)
    {
        Http.ApiServer.IntraOpThreadsOverride = intraOpThreads;
        Console.WriteLine($"Queue:IntraOpThreads = {intraOpThreads} ({(intraOpThreads == 0 ? "per request" : "fixed")}), {Environment.ProcessorCount} cores");
        var benches = Enumerable.Range(0, clients.Max()).Select(_ => new Http.HttpBenchmarks { Tokens = 256, Batch = 1 }).ToArray();
        foreach (var bench in benches) bench.Setup();
        foreach (var count in clients)
        {
            var latencies = new List<double>();
            var stopwatch = Stopwatch.StartNew();
            var tasks = benches.Take(count).Select(bench => Task.Run(async () =>
            {
                var own = new List<double>();
                while (stopwatch.Elapsed.TotalSeconds < seconds)
                {
                    var started = stopwatch.Elapsed.TotalMilliseconds;
                    await bench.MlpPost();
                    own.Add(stopwatch.Elapsed.TotalMilliseconds - started);
                }
                return own;
            })).ToArray();
            Task.WaitAll(tasks);
            var elapsed = stopwatch.Elapsed.TotalSeconds;
            foreach (var t in tasks) latencies.AddRange(t.Result);
            latencies.Sort();
            Console.WriteLine($"{count} client(s): {latencies.Count / elapsed,6:F1} requests/s, latency median {Benchmarks.Workload.Median(latencies):F1} ms, " +
                              $"p90 {latencies[(int)(latencies.Count * 0.9)]:F1} ms ({latencies.Count} requests)");
        }
        Http.ApiServer.StopIfStarted();
    }
}
