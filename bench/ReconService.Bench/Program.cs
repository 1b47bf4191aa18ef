using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

using ReconService.Bench.Benchmarks;
using ReconService.Bench.Http;
using ReconService.Engine.Hosting;
using static TorchSharp.torch;

namespace ReconService.Bench;

/// <summary>Entry point (a class, not top-level statements: the service's top-level <c>Program</c> is referenced).</summary>
internal static class BenchMain
{
    public static void Main(string[] args)
    {
        // dotnet run -c Release --project bench/ReconService.Bench -- [--quick] [--threads N] [--probe [filter]] [--default-malloc]
        //   [--probe-phases [tokens] [--batch B] [--count N] [--http-only] [--attention]] [--probe-threads]
        //   [--probe-load [intra-op threads, 0 = per request] [--clients 1,2,4] [--seconds S]]
        //   [--transport [--smoke] [--python /usr/bin/python3]]
        //   [--probe-budget [--clients 32] [--tokens 1024] [--budget BYTES] [--concurrency 32] [--safetensors]]
        Workload.Quick = args.Contains("--quick");
        if (!args.Contains("--default-malloc")) Console.WriteLine($"Retain freed memory: {NativeAllocator.RetainFreedMemory()}");
        else ApiServer.ExtraSettings["Engine:RetainFreedMemory"] = "false"; // the in-process service must not set it either
        var threadsAt = Array.IndexOf(args, "--threads");
        if (threadsAt >= 0) BenchFixture.Threads = int.Parse(args[threadsAt + 1]);

        // Short, in-process job: the model loads once per process, and a whole run stays within minutes on 2 cores.
        var job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithStrategy(RunStrategy.Monitoring)
            .WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(Workload.Quick ? 3 : 5)
            .WithInvocationCount(1).WithUnrollFactor(1)
            // No forced full GC around each call: a serving process is not collected between requests, and a forced collection
            // trims ArrayPool and decommits GC memory, so the next call would pay page faults a running service does not.
            .WithGcForce(false);
        // --only Http,Codec: run just the benchmark classes whose names start with one of these (for a quick look).
        var onlyAt = Array.IndexOf(args, "--only");
        var only = onlyAt >= 0 ? args[onlyAt + 1].Split(',') : null;
        var config = DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddFilter(new SimpleFilter(c => only is null || only.Any(o => c.Descriptor.Type.Name.StartsWith(o, StringComparison.Ordinal))))
            .AddFilter(new SimpleFilter(c => !Workload.Skip(c.Descriptor.Type.Name, c.Descriptor.WorkloadMethod.Name,
                c.Parameters.Items.FirstOrDefault(p => p.Name == "Tokens")?.Value as int? ?? 0,
                c.Parameters.Items.FirstOrDefault(p => p.Name == "Batch")?.Value as int? ?? 1)))
            .WithOptions(ConfigOptions.DisableLogFile)
            .WithArtifactsPath(Path.Combine(BenchFixture.RepoRoot, "BenchmarkDotNet.Artifacts"));

        set_num_threads(BenchFixture.Threads);
        if (args.Contains("--transport"))
        {
            // Issue 11's interleaved transport matrix (bench/README.md, "Transport and reduction"); --smoke: 64 tokens, 2 rounds.
            var pythonAt = Array.IndexOf(args, "--python");
            Transport.TransportMatrix.Run(args.Contains("--smoke"), pythonAt >= 0 ? args[pythonAt + 1] : "/usr/bin/python3");
            ApiServer.StopIfStarted();
            BareServer.StopIfStarted();
            return;
        }
        if (args.Contains("--probe-json"))
        {
            JsonProbe.Run();
            return;
        }
        if (Array.IndexOf(args, "--probe-phases") is var phasesAt and >= 0)
        {
            var tokens = phasesAt + 1 < args.Length && int.TryParse(args[phasesAt + 1], out var t) ? t : 256;
            var countAt = Array.IndexOf(args, "--count");
            var batchAt = Array.IndexOf(args, "--batch");
            PhaseProbe.Run(tokens, countAt >= 0 ? int.Parse(args[countAt + 1]) : 100, args.Contains("--http-only"), args.Contains("--attention"),
                batchAt >= 0 ? int.Parse(args[batchAt + 1]) : 1);
            return;
        }
        if (Array.IndexOf(args, "--probe-load") is var loadAt and >= 0)
        {
            var threads = loadAt + 1 < args.Length && int.TryParse(args[loadAt + 1], out var n) ? n : 0;
            var clientsAt = Array.IndexOf(args, "--clients");
            var secondsAt = Array.IndexOf(args, "--seconds");
            LoadProbe.Run(threads, clientsAt >= 0 ? args[clientsAt + 1].Split(',').Select(int.Parse).ToArray() : [1, 2, 4],
                secondsAt >= 0 ? double.Parse(args[secondsAt + 1], System.Globalization.CultureInfo.InvariantCulture) : 8);
            return;
        }
        if (Array.IndexOf(args, "--probe-budget") is var budgetAt and >= 0)
        {
            string? Arg(string name) => Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? args[at + 1] : null;
            BudgetProbe.Run(int.Parse(Arg("--clients") ?? "32"), int.Parse(Arg("--tokens") ?? "1024"),
                long.Parse(Arg("--budget") ?? "0"), int.Parse(Arg("--concurrency") ?? "32"), args.Contains("--safetensors"));
            return;
        }
        if (args.Contains("--probe-threads"))
        {
            ThreadProbe.Run();
            return;
        }
        if (args.Contains("--probe-http"))
        {
            HttpProbe.Run();
            return;
        }
        if (args.Contains("--probe"))
        {
            var at = Array.IndexOf(args, "--probe");
            Probe.Run(at + 1 < args.Length ? args[at + 1] : null);
            return;
        }
        _ = BenchFixture.Weights;
        var started = DateTime.UtcNow;
        Report.LoadAtStart = Report.LoadAverage();
        var summaries = BenchmarkRunner.Run([typeof(EngineBenchmarks), typeof(HttpBenchmarks), typeof(CodecBenchmarks), typeof(MachineBenchmarks),
            typeof(ConcurrencyBenchmarks)], config);
        if (only is null || only.Any(o => "HttpBenchmarks".StartsWith(o, StringComparison.Ordinal)))
        {
            Console.WriteLine("// Interleaved HTTP / in-process / bare-transport rounds (MLP post)");
            AlternatingRatio.Run();
        }
        ApiServer.StopIfStarted();
        BareServer.StopIfStarted();
        var report = Report.Build(summaries, BenchFixture.Figures, DateTime.UtcNow - started);
        var results = Path.Combine(BenchFixture.RepoRoot, "bench", "results");
        Directory.CreateDirectory(results);
        var file = Path.Combine(results, Workload.Quick ? "quick.md" : "full.md");
        File.WriteAllText(file, report);
        Console.WriteLine();
        Console.WriteLine(report);
        Console.WriteLine($"Written to {file}");
    }
}
