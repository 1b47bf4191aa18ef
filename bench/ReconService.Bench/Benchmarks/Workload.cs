using ReconService.Engine.Reconstitution;
using ReconService.Models;
using static TorchSharp.torch;

namespace ReconService.Bench.Benchmarks;

/// <summary>What the benchmarks ask of the engine, and which sizes run.</summary>
internal static class Workload
{
    public static bool Quick { get; set; }

    public static int[] Tokens => Quick ? [256, 1024] : [64, 256, 1024];

    /// <summary>
    /// The inputs for one size: a random residual and a random write vector, <c>[tokens, 768]</c> or
    /// <c>[batch, tokens, 768]</c>, from one seeded generator, so every benchmark and probe of a size sends the same residual.
    /// </summary>
    public static (Tensor Residual, Tensor Write) RandomInputs(int tokens, int batch)
    {
        var generator = new Generator(42);
        long[] shape = batch == 1 ? [tokens, 768] : [batch, tokens, 768];
        return (randn(shape, generator: generator), randn(shape, generator: generator));
    }

    /// <summary>The median (the mean of the two middle values for an even count); NaN when empty.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var a = values.Order().ToArray();
        return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    public static int[] Batches => Quick ? [1] : [1, 8];

    public static int Layer => Weights.BenchWeights.Layer;

    public static readonly ActivationSpec AttnPre = new(NodeType.AttentionHead, Layer, PreOrPostAct.Pre, AttentionTraceType.QK);
    public static readonly ActivationSpec AttnPost = new(NodeType.AttentionHead, Layer, PreOrPostAct.Post, AttentionTraceType.QK);
    public static readonly ActivationSpec MlpPost = new(NodeType.MlpNeuron, Layer, PreOrPostAct.Post);
    public static readonly ActivationSpec AePost = new(NodeType.MlpAutoencoderLatent, Layer, PreOrPostAct.Post, Autoencoder: BenchFixture.AutoencoderName);

    /// <summary>
    /// Cases left out so that a full run fits a few minutes on 2 cores: each takes more than ~5 s a call there (the in-process
    /// engine at 1024 tokens: logprobs 2.5 s, autoencoder 4.1 s, attention-post gradient 0.4 s for one sequence).
    /// </summary>
    public static string? SkipReason(string type, string method, int tokens, int batch) => (type, method) switch
    {
        (_, "Logprobs" or "AutoencoderPost") when tokens * batch > 1024 =>
            "logprobs and autoencoder latents beyond 1024 tokens in all (≥ 5 s a call: [T, 50257] log-softmax, a 3072×32768 encoder)",
        (_, "AttentionPostGradient" or "AttentionPostJvp") when tokens * batch > 4096 =>
            "attention-post gradient and JVP at 1024 tokens × 8 (~13 s a call)",
        ("HttpBenchmarks", "AttentionPost") when tokens * batch > 4096 =>
            "attention post over HTTP at 1024 tokens × 8 (a 400 MB base64 answer)",
        ("HttpBenchmarks", "MlpPostTransportFloor") when batch > 1 =>
            "the transport floor for batches (one sequence per size shows it)",
        ("HttpBenchmarks", "MlpPostGradient" or "MlpPostJvp") when batch > 1 =>
            "HTTP gradient and JVP for batches (the transport is measured by the other HTTP cases)",
        _ => null,
    };

    /// <summary>The distinct reasons cases were left out, for the report.</summary>
    public static readonly HashSet<string> Skipped = [];

    public static bool Skip(string type, string method, int tokens, int batch)
    {
        if (SkipReason(type, method, tokens, batch) is not { } reason) return false;
        Skipped.Add(reason);
        return true;
    }
}
