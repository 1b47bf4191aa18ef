using System.Diagnostics;
using System.Globalization;
using ReconService.Bench.Weights;
using ReconService.Engine.Attribution;
using ReconService.Engine.Hooks;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Models;
using ReconService.Models.Wire;
using static TorchSharp.torch;

// In-process timing of issue 12's targets on GPT-2-small-shaped random weights (bench/ReconService.Bench's, written once):
// the node table (all four groups, neurons and heads, top 20, logit_diff) and the same with the 32768-latent autoencoder
// spliced in, each against one plain forward pass over the same tokens (full logits, no autograd), interleaved, medians.
//   dotnet run -c Release --project bench/AttributionBench -- [--tokens 64,256] [--reps 5] [--threads 1]
//   dotnet run -c Release --project bench/AttributionBench -- --memory --tokens 1024 [--autoencoder] [--dense]
//     [--family transcoder|resid.pre|resid.post_attn|resid.post_mlp [--latents 4096]]
// --family splices (instead of the 32k mlp.post_act autoencoder) a random in-memory family at every layer: a transcoder
// from ln_2.normalized to resid.delta_mlp, or a residual-stream autoencoder (layer_norm normalisation, centred input).
// --memory: one node table (no timing) measuring the process's peak resident memory above what it held before the run
// (VmHWM after resetting it through /proc/self/clear_refs, glibc's freed memory trimmed first) next to the plan's
// working-memory estimate; run one token count per process so that no earlier run's freed pages are reused.
var memoryProbe = args.Contains("--memory");
// As the service does at startup: freed memory stays mapped, so large temporaries do not pay page faults per request.
var retained = !memoryProbe && ReconService.Engine.Hosting.NativeAllocator.RetainFreedMemory();
var tokenCounts = Arg("--tokens", "64,256").Split(',').Select(int.Parse).ToArray();
var reps = int.Parse(Arg("--reps", "5"), CultureInfo.InvariantCulture);
set_num_threads(int.Parse(Arg("--threads", "1"), CultureInfo.InvariantCulture));
var cache = Environment.GetEnvironmentVariable("RECON_BENCH_WEIGHTS") ?? "/work/bench-weights";
var weights = BenchWeights.Ensure(cache, Console.WriteLine);
var model = new Transformer(ModelLoader.Load(weights.ModelFolder));
var autoencoder = AutoencoderLoader.Load("sae", weights.AutoencoderFolder);
var families = new Dictionary<string, ReconService.Engine.Autoencoders.AutoencoderSet> { ["sae"] = autoencoder };
var familyName = Array.IndexOf(args, "--family") >= 0 ? Arg("--family", "") : null;
if (familyName is not null) families["family"] = RandomFamily(familyName, int.Parse(Arg("--latents", "4096"), CultureInfo.InvariantCulture));
using var engine = new AttributionEngine(model, families);
if (memoryProbe)
{
    foreach (var n in tokenCounts) MemoryProbe(n);
    return;
}
Console.WriteLine($"# attribution bench {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC: GPT-2-small-shaped random weights, {get_num_threads()} intra-op thread(s), " +
    $"{reps} interleaved rounds (median), freed memory retained: {retained}, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
Console.WriteLine("| tokens | forward ms | node table ms | / forward | + 32k autoencoder ms | / forward |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
foreach (var n in tokenCounts)
{
    var ids = Enumerable.Range(0, n).Select(i => (1000 + 7919 * i) % BenchWeights.NVocab).ToArray();
    var spec = new AttributionSpec
    {
        Sequences = [ids],
        Loss = new AttributionLossSpec(AttributionLossName.LogitDiff, [11], [12]),
        TopK = 20,
    };
    var withAutoencoder = spec with { Autoencoders = ["sae"] };
    var tokens = tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0);
    double Forward()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var sw = Stopwatch.StartNew();
        model.Forward(tokens, new HookTree());
        return sw.Elapsed.TotalMilliseconds;
    }
    double Table(AttributionSpec s)
    {
        var sw = Stopwatch.StartNew();
        engine.Compute(s).Dispose();
        return sw.Elapsed.TotalMilliseconds;
    }
    Forward(); Table(spec); Table(withAutoencoder); // warm-up (and the autoencoder's cached write norms)
    var (f, t, a) = (new List<double>(), new List<double>(), new List<double>());
    for (var r = 0; r < reps; r++)
    {
        f.Add(Forward());
        t.Add(Table(spec));
        a.Add(Table(withAutoencoder));
    }
    double Median(List<double> x) => x.Order().ElementAt(x.Count / 2);
    Console.WriteLine($"| {n} | {Median(f):F0} | {Median(t):F0} | {Median(t) / Median(f):F2} | {Median(a):F0} | {Median(a) / Median(f):F2} |");
}

void MemoryProbe(int n)
{
    var ids = Enumerable.Range(0, n).Select(i => (1000 + 7919 * i) % BenchWeights.NVocab).ToArray();
    var spec = new AttributionSpec
    {
        Sequences = [ids],
        Loss = new AttributionLossSpec(AttributionLossName.LogitDiff, [11], [12]),
        TopK = 20,
        Dense = args.Contains("--dense"),
        Autoencoders = familyName is not null ? ["family"] : args.Contains("--autoencoder") ? ["sae"] : [],
    };
    var plan = engine.Plan(spec);
    if (spec.Autoencoders.Count > 0) engine.Compute(spec with { Sequences = [[1, 2]] }).Dispose(); // the kept write vectors, made once
    GC.Collect();
    MallocTrim(0);
    File.WriteAllText("/proc/self/clear_refs", "5");
    var before = Status("VmRSS");
    var sw = Stopwatch.StartNew();
    using (var scope = NewDisposeScope()) engine.Run(plan).Dispose();
    var seconds = sw.Elapsed.TotalSeconds;
    var peak = Status("VmHWM");
    Console.WriteLine($"# attribution memory {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {n} tokens{(spec.Dense ? ", dense" : "")}" +
        $"{(familyName is not null ? $", {familyName} family of {families["family"].Layers[0].NLatents} latents at every layer" : spec.Autoencoders.Count > 0 ? ", 32k autoencoder" : "")}: peak RSS above the start {(peak - before) >> 20} MiB, " +
        $"estimate {plan.WorkingMemoryBytes >> 20} MiB, {seconds:F1} s, {get_num_threads()} thread(s)");
}

ReconService.Engine.Autoencoders.AutoencoderSet RandomFamily(string inputType, int nLatents)
{
    var d = model.Config.DModel;
    var transcoder = inputType == "transcoder";
    var type = transcoder ? AutoencoderInputType.Ln2Normalized
        : System.Text.Json.JsonSerializer.Deserialize<AutoencoderInputType>($"\"{inputType}\"");
    var generator = new Generator(5);
    Tensor R(params long[] shape) => (randn(shape, generator: generator) * 0.05f).DetachFromDisposeScope();
    var layers = Enumerable.Range(0, model.Config.NLayers).ToDictionary(l => l, _ => transcoder
        ? new ReconService.Engine.Autoencoders.Autoencoder(zeros(d).DetachFromDisposeScope(), R(nLatents, d), R(nLatents), R(d, nLatents),
            AutoencoderActivation.ReLU, decoderBias: R(d))
        : new ReconService.Engine.Autoencoders.Autoencoder(R(d), R(nLatents, d), R(nLatents), R(d, nLatents), AutoencoderActivation.ReLU,
            preprocessing: new ReconService.Engine.Autoencoders.AutoencoderPreprocessing(CentreInput: true, Normalization: AutoencoderNormalization.LayerNorm)));
    return new ReconService.Engine.Autoencoders.AutoencoderSet("family", type, layers)
    {
        OutputType = transcoder ? AutoencoderInputType.ResidDeltaMlp : null,
    };
}

static long Status(string key) =>
    long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(key + ":", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
        CultureInfo.InvariantCulture) * 1024;

[System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
static extern int MallocTrim(nuint pad);

string Arg(string name, string fallback) => Array.IndexOf(args, name) is var i and >= 0 ? args[i + 1] : fallback;
