using System.Diagnostics;
using ReconService.Bench.Weights;
using ReconService.Engine;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Models;
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
        var checkpoint = LoadCheckpoint(weights);
        var autoencoder = LoadAutoencoder(weights);
        var engine = new ReconstitutionEngine(checkpoint, [autoencoder]);
        var seconds = stopwatch.Elapsed.TotalSeconds;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var process = Process.GetCurrentProcess();
        return (engine, new LoadFigures(seconds, process.WorkingSet64, process.WorkingSet64 - before));
    }

    // Until the loaders are merged: the generator's tensors converted in memory, as the Hugging Face loader does.
    private static GptCheckpoint LoadCheckpoint(BenchWeights weights)
    {
        _ = weights;
        using var scope = NewDisposeScope();
        var hf = BenchWeights.ModelTensors(1234).ToDictionary(t => t.Name, t => t.Tensor);
        var p = new Dictionary<string, Tensor>
        {
            ["tok_embed.weight"] = hf["wte.weight"], ["pos_embed.weight"] = hf["wpe.weight"],
            ["final_ln.weight"] = hf["ln_f.weight"], ["final_ln.bias"] = hf["ln_f.bias"],
            ["unembed.weight"] = hf["wte.weight"].clone(),
        };
        for (var l = 0; l < BenchWeights.NLayers; l++)
        {
            string h = $"h.{l}.", x = $"xf_layers.{l}.";
            foreach (var ln in new[] { "ln_1", "ln_2" })
            {
                p[x + ln + ".weight"] = hf[h + ln + ".weight"];
                p[x + ln + ".bias"] = hf[h + ln + ".bias"];
            }
            var w = hf[h + "attn.c_attn.weight"].t().chunk(3, 0);
            var b = hf[h + "attn.c_attn.bias"].chunk(3, 0);
            string[] qkv = ["q_proj", "k_proj", "v_proj"];
            for (var i = 0; i < 3; i++)
            {
                p[x + "attn." + qkv[i] + ".weight"] = w[i];
                p[x + "attn." + qkv[i] + ".bias"] = b[i];
            }
            p[x + "attn.out_proj.weight"] = hf[h + "attn.c_proj.weight"].t();
            p[x + "attn.out_proj.bias"] = hf[h + "attn.c_proj.bias"];
            p[x + "mlp.in_layer.weight"] = hf[h + "mlp.c_fc.weight"].t();
            p[x + "mlp.in_layer.bias"] = hf[h + "mlp.c_fc.bias"];
            p[x + "mlp.out_layer.weight"] = hf[h + "mlp.c_proj.weight"].t();
            p[x + "mlp.out_layer.bias"] = hf[h + "mlp.c_proj.bias"];
        }
        var config = new GptConfig(BenchWeights.DModel, BenchWeights.NLayers, BenchWeights.NHeads, BenchWeights.NCtx, BenchWeights.NVocab);
        return new GptCheckpoint(config, p.ToDictionary(kv => kv.Key, kv => kv.Value.contiguous().DetachFromDisposeScope()));
    }

    private static AutoencoderSet LoadAutoencoder(BenchWeights weights)
    {
        using var scope = NewDisposeScope();
        var t = BenchWeights.AutoencoderTensors(5678).ToDictionary(x => x.Name, x => x.Tensor);
        Tensor Keep(Tensor x) => x.contiguous().DetachFromDisposeScope();
        var ae = new Autoencoder(Keep(t["b_dec"]), Keep(t["W_enc"].t()), Keep(t["b_enc"]), Keep(t["W_dec"].t()), AutoencoderActivation.ReLU);
        return new AutoencoderSet(AutoencoderName, AutoencoderInputType.MlpPostAct, new Dictionary<int, Autoencoder> { [weights.AutoencoderLayer] = ae });
    }
}

/// <summary>Model load figures: wall time, process resident memory after load, and its growth during the load.</summary>
internal sealed record LoadFigures(double Seconds, long ResidentBytes, long GrowthBytes);
