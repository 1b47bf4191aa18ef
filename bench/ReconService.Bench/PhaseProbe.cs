using System.Diagnostics;
using System.Runtime.InteropServices;
using ReconService.Bench.Benchmarks;
using static TorchSharp.torch;

namespace ReconService.Bench;

/// <summary>
/// <c>--probe-phases [tokens] [--batch B] [--count N] [--http-only] [--attention]</c>: MLP (or attention) post over HTTP next to in-process, alternating, with
/// the whole process's user and system CPU, minor page faults and context switches per request (getrusage), and where
/// an HTTP request's time goes: client send → server start → response started → server end, client headers, body
/// read, tensor decoded. Medians of wall times and phases, means of the counters.
/// </summary>
internal static class PhaseProbe
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeVal { public long Sec, Usec; }

    [StructLayout(LayoutKind.Sequential)]
    private struct Rusage
    {
        public TimeVal Utime, Stime;
        public long Maxrss, Ixrss, Idrss, Isrss, Minflt, Majflt, Nswap, Inblock, Oublock, Msgsnd, Msgrcv, Nsignals, Nvcsw, Nivcsw;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out Rusage usage);

    private readonly record struct Sample(double Wall, double User, double Sys, long Faults, long Voluntary, long Involuntary);

    private static Sample Measure(Action action)
    {
        getrusage(0, out var a);
        var sw = Stopwatch.StartNew();
        action();
        var wall = sw.Elapsed.TotalMilliseconds;
        getrusage(0, out var b);
        static double Ms(TimeVal t) => t.Sec * 1e3 + t.Usec / 1e3;
        return new Sample(wall, Ms(b.Utime) - Ms(a.Utime), Ms(b.Stime) - Ms(a.Stime), b.Minflt - a.Minflt, b.Nvcsw - a.Nvcsw, b.Nivcsw - a.Nivcsw);
    }

    private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    public static void Run(int tokens, int count, bool httpOnly, bool attention = false, int batch = 1)
    {
        Http.ApiServer.StampRequests = true;
        var bench = new Http.HttpBenchmarks { Tokens = tokens, Batch = batch };
        bench.Setup();
        var engine = Http.ApiServer.Engine;
        var (x, write) = Workload.RandomInputs(tokens, batch);
        write.Dispose();
        using var residual = x;
        var http = new List<Sample>();
        var local = new List<Sample>();
        var phases = new List<double[]>();
        var (name, spec) = attention ? ("attention post", Workload.AttnPost) : ("MLP post", Workload.MlpPost);
        Task Call() => attention ? bench.AttentionPost() : bench.MlpPost();
        for (var i = 0; i < 5; i++) { Call().GetAwaiter().GetResult(); engine.Activations(x, spec).Dispose(); }
        for (var i = 0; i < count; i++)
        {
            http.Add(Measure(() => Call().GetAwaiter().GetResult()));
            var c = Http.HttpBenchmarks.LastClientStamps;
            var s = Http.StampFilter.Last;
            phases.Add([Ms(c.Sent, s.Start), Ms(s.Start, s.ResponseStarted), Ms(s.ResponseStarted, s.End), Ms(s.End, c.Headers), Ms(c.Headers, c.Read), Ms(c.Read, c.Decoded)]);
            if (!httpOnly) local.Add(Measure(() => engine.Activations(x, spec).Dispose()));
        }
        static string Row(string name, List<Sample> s) =>
            $"{name,-11} wall {Workload.Median(s.Select(x => x.Wall)),7:F2} ms   per request: user {s.Average(x => x.User),6:F2} ms, sys {s.Average(x => x.Sys),5:F2} ms, " +
            $"minor faults {s.Average(x => (double)x.Faults),5:F0}, voluntary/involuntary switches {s.Average(x => (double)x.Voluntary),5:F1}/{s.Average(x => (double)x.Involuntary),5:F1}";
        Console.WriteLine($"{name}, {tokens} tokens × {batch}, {count} requests (median wall; CPU, faults and switches of the whole process, means)");
        Console.WriteLine(Row("HTTP", http));
        if (!httpOnly)
        {
            Console.WriteLine(Row("in-process", local));
            Console.WriteLine($"ratio of median walls {Workload.Median(http.Select(s => s.Wall)) / Workload.Median(local.Select(s => s.Wall)):F2}");
        }
        string[] names = ["client send → server start", "server start → response started (body, bind, compute, serialize)", "response started → server end (send)",
            "server end → client headers", "client headers → body read", "client decode"];
        for (var i = 0; i < names.Length; i++) Console.WriteLine($"  {names[i],-70} {Workload.Median(phases.Select(p => p[i])),7:F2} ms");
        Http.ApiServer.StopIfStarted();
    }
}
