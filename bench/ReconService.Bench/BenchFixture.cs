using System.Diagnostics;
using ReconService.Bench.Weights;
using ReconService.Engine;
using ReconService.Engine.Loading;
using static TorchSharp.torch;

namespace ReconService.Bench;

/// <summary>The engine over the benchmark weights, loaded once per process and shared by every benchmark.</summary>
internal static class BenchFixture
{
    public const string AutoencoderName = "bench_mlp_sae";

    private static readonly Lazy<(ReconstitutionEngine Engine, LoadFigures Figures)> Loaded = new(Load);

    public static ReconstitutionEngine Engine => Loaded.Value.Engine;

    public static LoadFigures Figures => Loaded.Value.Figures;

    /// <summary>Intra-op threads for every benchmark (set with <c>--threads</c>); the server's choice.</summary>
    public static int Threads { get; set; } = 1;

    public static BenchWeights Weights => BenchWeights.Ensure(CacheFolder, Console.WriteLine);

    public static string CacheFolder =>
        Environment.GetEnvironmentVariable("RECON_BENCH_WEIGHTS") ?? Path.Combine(RepoRoot, "bench", ".weights");

    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "ReconService.sln"))) return dir.FullName;
            return Directory.GetCurrentDirectory();
        }
    }

    private static (ReconstitutionEngine, LoadFigures) Load()
    {
        var weights = Weights;
        set_num_threads(Threads);
        GC.Collect();
        var before = Process.GetCurrentProcess().WorkingSet64;
        var stopwatch = Stopwatch.StartNew();
        var checkpoint = ModelLoader.Load(weights.ModelFolder);
        var autoencoder = AutoencoderLoader.Load(AutoencoderName, weights.AutoencoderFolder);
        var engine = new ReconstitutionEngine(checkpoint, [autoencoder]);
        var seconds = stopwatch.Elapsed.TotalSeconds;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var process = Process.GetCurrentProcess();
        return (engine, new LoadFigures(seconds, process.WorkingSet64, process.WorkingSet64 - before));
    }
}

/// <summary>Model load figures: wall time, process resident memory after load, and its growth during the load.</summary>
internal sealed record LoadFigures(double Seconds, long ResidentBytes, long GrowthBytes);
