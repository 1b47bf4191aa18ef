using ReconService.Engine.Reconstitution;
using ReconService.Models;

namespace ReconService.Bench.Benchmarks;

/// <summary>What the benchmarks ask of the engine, and which sizes run.</summary>
internal static class Workload
{
    public static bool Quick { get; set; }

    public static int[] Tokens => Quick ? [256, 1024] : [64, 256, 1024];

    public static int[] Batches => Quick ? [1] : [1, 8];

    public static int Layer => Weights.BenchWeights.Layer;

    public static readonly ActivationSpec AttnPre = new(NodeType.AttentionHead, Layer, PreOrPostAct.Pre, AttentionTraceType.QK);
    public static readonly ActivationSpec AttnPost = new(NodeType.AttentionHead, Layer, PreOrPostAct.Post, AttentionTraceType.QK);
    public static readonly ActivationSpec MlpPost = new(NodeType.MlpNeuron, Layer, PreOrPostAct.Post);
    public static readonly ActivationSpec AePost = new(NodeType.MlpAutoencoderLatent, Layer, PreOrPostAct.Post, Autoencoder: BenchFixture.AutoencoderName);

    /// <summary>
    /// Cases left out to keep a run within minutes on 2 cores: at 1024 tokens a batch of 8 makes 1.6 GB of logprobs
    /// (630 GFLOP) and 1.6 TFLOP of autoencoder encoding.
    /// </summary>
    public static bool Skip(string method, int tokens, int batch) =>
        tokens * batch > 4096 && method is "Logprobs" or "AutoencoderPost";
}
