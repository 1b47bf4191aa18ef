using System.Text.Json;
using static TorchSharp.torch;

namespace ReconService.Bench.Weights;

/// <summary>
/// GPT-2-small-shaped random weights in Hugging Face layout (<c>config.json</c> + <c>model.safetensors</c>) and a
/// 32k-latent SAELens autoencoder on <c>mlp.post_act</c> of one layer, generated deterministically and written once
/// to a cache folder that later runs reuse.
/// </summary>
internal sealed record BenchWeights(string ModelFolder, string AutoencoderFolder, int AutoencoderLayer)
{
    public const int DModel = 768, NLayers = 12, NHeads = 12, DFf = 3072, NVocab = 50257, NCtx = 1024, NLatents = 32768;
    public const int Layer = 6;
    private const string Version = "1";

    /// <summary>GPT-2 small with a 32768-latent autoencoder on layer 6 (what the benchmarks load).</summary>
    public static readonly WeightShape Gpt2Small = new(DModel, NLayers, NHeads, NVocab, NCtx, NLatents, Layer);

    public static BenchWeights Ensure(string cacheFolder, Action<string>? log = null)
    {
        var stamp = Path.Combine(cacheFolder, "complete");
        if (File.Exists(stamp) && File.ReadAllText(stamp) == Version)
            return new(Path.Combine(cacheFolder, "gpt2-small-random"), Path.Combine(cacheFolder, "sae-mlp-post-act"), Layer);
        log?.Invoke($"Writing benchmark weights to {cacheFolder} (once)...");
        var written = Write(cacheFolder, Gpt2Small);
        File.WriteAllText(stamp, Version);
        return written;
    }

    /// <summary>Writes a model of <paramref name="shape"/> and its autoencoder under <paramref name="folder"/> (same layout as <see cref="Ensure"/>).</summary>
    public static BenchWeights Write(string folder, WeightShape shape)
    {
        var model = Path.Combine(folder, "gpt2-small-random");
        var saeRoot = Path.Combine(folder, "sae-mlp-post-act");
        var sae = Path.Combine(saeRoot, $"blocks.{shape.Layer}.mlp.hook_post");
        Directory.CreateDirectory(model);
        Directory.CreateDirectory(sae);
        WriteModel(model, shape, seed: 1234);
        WriteAutoencoder(sae, shape, seed: 5678);
        return new(model, saeRoot, shape.Layer);
    }

    /// <summary>Hugging Face GPT-2 tensors: <c>Conv1D</c> weights <c>[in, out]</c>, fused <c>c_attn</c>, tied <c>lm_head</c>.</summary>
    public static List<(string Name, Tensor Tensor)> ModelTensors(WeightShape shape, int seed)
    {
        var (DModel, NLayers, _, NVocab, NCtx, _, _) = shape;
        var DFf = shape.DFf;
        var generator = new Generator((ulong)seed);
        Tensor W(params long[] shape) => randn(shape, generator: generator).mul_(0.02f);
        Tensor B(long n) => randn([n], generator: generator).mul_(0.01f);
        Tensor G(long n) => randn([n], generator: generator).mul_(0.05f).add_(1f);
        var t = new List<(string, Tensor)> { ("wte.weight", W(NVocab, DModel)), ("wpe.weight", W(NCtx, DModel)) };
        for (var l = 0; l < NLayers; l++)
        {
            var h = $"h.{l}.";
            t.Add((h + "ln_1.weight", G(DModel)));
            t.Add((h + "ln_1.bias", B(DModel)));
            t.Add((h + "attn.c_attn.weight", W(DModel, 3 * DModel)));
            t.Add((h + "attn.c_attn.bias", B(3 * DModel)));
            t.Add((h + "attn.c_proj.weight", W(DModel, DModel)));
            t.Add((h + "attn.c_proj.bias", B(DModel)));
            t.Add((h + "ln_2.weight", G(DModel)));
            t.Add((h + "ln_2.bias", B(DModel)));
            t.Add((h + "mlp.c_fc.weight", W(DModel, DFf)));
            t.Add((h + "mlp.c_fc.bias", B(DFf)));
            t.Add((h + "mlp.c_proj.weight", W(DFf, DModel)));
            t.Add((h + "mlp.c_proj.bias", B(DModel)));
        }
        t.Add(("ln_f.weight", G(DModel)));
        t.Add(("ln_f.bias", B(DModel)));
        return t;
    }

    /// <summary>SAELens standard SAE tensors: <c>W_enc [d_in, d_sae]</c>, <c>b_enc</c>, <c>W_dec [d_sae, d_in]</c>, <c>b_dec</c>.</summary>
    public static List<(string Name, Tensor Tensor)> AutoencoderTensors(WeightShape shape, int seed)
    {
        var (DFf, NLatents) = (shape.DFf, shape.NLatents);
        var generator = new Generator((ulong)seed);
        return
        [
            ("W_enc", randn([DFf, NLatents], generator: generator).mul_(0.02f)),
            ("b_enc", randn([NLatents], generator: generator).mul_(0.01f)),
            ("W_dec", randn([NLatents, DFf], generator: generator).mul_(0.02f)),
            ("b_dec", randn([DFf], generator: generator).mul_(0.01f)),
        ];
    }

    private static void WriteModel(string folder, WeightShape shape, int seed)
    {
        var (DModel, NLayers, NHeads, NVocab, NCtx, _, _) = shape;
        var config = new Dictionary<string, object>
        {
            ["model_type"] = "gpt2", ["architectures"] = new[] { "GPT2LMHeadModel" },
            ["n_embd"] = DModel, ["n_layer"] = NLayers, ["n_head"] = NHeads, ["n_positions"] = NCtx, ["n_ctx"] = NCtx,
            ["vocab_size"] = NVocab, ["layer_norm_epsilon"] = 1e-5, ["activation_function"] = "gelu_new",
            ["tie_word_embeddings"] = true,
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), JsonSerializer.Serialize(config));
        using var scope = NewDisposeScope();
        SafetensorsWriter.Write(Path.Combine(folder, "model.safetensors"), ModelTensors(shape, seed));
    }

    private static void WriteAutoencoder(string folder, WeightShape shape, int seed)
    {
        var (DFf, NLatents, Layer) = (shape.DFf, shape.NLatents, shape.Layer);
        var cfg = new Dictionary<string, object>
        {
            ["d_in"] = DFf, ["d_sae"] = NLatents, ["architecture"] = "standard", ["activation_fn"] = "relu",
            ["apply_b_dec_to_input"] = true, ["hook_name"] = $"blocks.{Layer}.mlp.hook_post", ["hook_layer"] = Layer,
            ["model_name"] = "gpt2-small-random", ["dtype"] = "float32",
        };
        File.WriteAllText(Path.Combine(folder, "cfg.json"), JsonSerializer.Serialize(cfg));
        using var scope = NewDisposeScope();
        SafetensorsWriter.Write(Path.Combine(folder, "sae_weights.safetensors"), AutoencoderTensors(shape, seed));
    }
}

/// <summary>Sizes of generated weights: GPT-2 hyper-parameters (d_ff = 4 d_model) and the autoencoder's latents and layer.</summary>
internal sealed record WeightShape(int DModel, int NLayers, int NHeads, int NVocab, int NCtx, int NLatents, int Layer)
{
    public int DFf => 4 * DModel;
}
