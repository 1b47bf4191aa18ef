using System.Text.RegularExpressions;
using ReconService.Engine.Model;
using TorchSharp;

namespace ReconService.Engine.Loading;

/// <summary>
/// Loads a Hugging Face GPT-2 checkpoint (<c>config.json</c> + <c>model.safetensors</c>) under TDB's parameter names.
/// </summary>
/// <remarks>
/// Follows Hugging Face's <c>GPT2LMHeadModel</c> layout: <c>Conv1D</c> weights are stored <c>[in, out]</c> and are
/// transposed to <c>Linear</c>'s <c>[out, in]</c>; <c>c_attn</c> holds Q|K|V along its output axis; <c>lm_head</c>
/// is tied to <c>wte</c> when absent. Keys may carry a <c>transformer.</c> prefix.
/// <c>config.json</c> keys that change what the model computes are honoured or refused by name (see <see cref="ReadConfig"/>);
/// extra tensors that hold nothing (zero elements, or a single 0-rank value) and the attention-mask buffers are skipped
/// and reported through the load log.
/// </remarks>
internal static partial class HuggingFaceGpt2Loader
{
    private const string Prefix = "transformer.";

    [GeneratedRegex(@"^h\.\d+\.attn\.(bias|masked_bias)$")]
    private static partial Regex IgnoredBuffer();

    public static GptCheckpoint Load(string folder, Action<string>? log = null)
    {
        var configPath = Path.Combine(folder, "config.json");
        var (config, tied) = ReadConfig(configPath);
        var weightsPath = Path.Combine(folder, "model.safetensors");
        var sources = SourceTensors(config);
        var header = SafetensorsReader.ReadHeader(weightsPath);

        var fileName = new Dictionary<string, string>();
        var buffers = 0;
        foreach (var (key, entry) in header)
        {
            var name = key.StartsWith(Prefix, StringComparison.Ordinal) ? key[Prefix.Length..] : key;
            if (IgnoredBuffer().IsMatch(name))
            {
                buffers++;
                continue;
            }
            if (!sources.ContainsKey(name))
            {
                if (!TensorChecks.HoldsNothing(entry.Shape)) throw new WeightLoadException(weightsPath, $"unexpected tensor '{key}'");
                log?.Invoke($"{weightsPath}: skipped tensor '{key}' of shape {TensorChecks.Format(entry.Shape)} ({entry.DType}), which is not a GPT-2 parameter and holds {TensorChecks.Describe(entry.Shape)}");
                continue;
            }
            if (!fileName.TryAdd(name, key)) throw new WeightLoadException(weightsPath, $"tensor '{key}' appears both with and without the '{Prefix}' prefix");
        }
        if (buffers > 0)
            log?.Invoke($"{weightsPath}: skipped {buffers} attention-mask buffers (h.<L>.attn.bias, h.<L>.attn.masked_bias); the causal mask is built, not read");
        var shownPrefix = header.Keys.Any(k => k.StartsWith(Prefix, StringComparison.Ordinal)) ? Prefix : "";
        foreach (var name in sources.Keys.Where(n => n != "lm_head.weight" && !fileName.ContainsKey(n)))
            throw new WeightLoadException(weightsPath, $"missing tensor '{shownPrefix}{name}'");
        if (!tied && !fileName.ContainsKey("lm_head.weight"))
            throw new WeightLoadException(weightsPath, "missing tensor 'lm_head.weight': config.json sets tie_word_embeddings false, so it cannot be taken from wte");

        using var scope = torch.NewDisposeScope();
        var raw = SafetensorsReader.Read(weightsPath, key => fileName.ContainsValue(key));
        var parameters = new Dictionary<string, torch.Tensor>();
        foreach (var (name, key) in fileName)
        {
            var (shape, convert) = sources[name];
            TensorChecks.ExpectShape(raw[key], weightsPath, key, shape);
            foreach (var (target, tensor) in convert(raw[key])) parameters[target] = tensor.contiguous();
        }
        if (!parameters.ContainsKey("unembed.weight")) parameters["unembed.weight"] = parameters["tok_embed.weight"].clone();
        return new GptCheckpoint(config, parameters.ToDictionary(kv => kv.Key, kv => kv.Value.DetachFromDisposeScope()));
    }

    /// <summary>
    /// Reads <c>config.json</c>: sizes (<c>n_embd</c>, <c>n_layer</c>, <c>n_head</c>, <c>n_positions</c> or <c>n_ctx</c>,
    /// <c>vocab_size</c>, <c>layer_norm_epsilon</c>), and every key that changes what GPT-2 computes, honoured or refused:
    /// <c>activation_function</c> (<c>gelu_new</c>, <c>gelu_pytorch_tanh</c>, <c>gelu_fast</c>: the tanh form; <c>gelu</c>,
    /// <c>gelu_python</c>: the erf form; default <c>gelu_new</c>), <c>n_inner</c> (null or 4 n_embd), <c>scale_attn_weights</c>
    /// (true), <c>scale_attn_by_inverse_layer_idx</c> (false), <c>add_cross_attention</c> (false), <c>model_type</c>
    /// (<c>gpt2</c>), <c>tie_word_embeddings</c> (whether <c>lm_head</c> may be taken from <c>wte</c>; default true).
    /// Keys about training, dropout, generation or tokens are ignored.
    /// </summary>
    private static (GptConfig Config, bool Tied) ReadConfig(string path)
    {
        var json = JsonConfig.Read(path);
        var nCtx = json.IntOrNull("n_positions") ?? json.IntOrNull("n_ctx")
            ?? throw new WeightLoadException(path, "missing key 'n_positions' (or 'n_ctx')");
        if (json.StringOrNull("model_type") is { } modelType and not "gpt2")
            throw new WeightLoadException(path, $"key 'model_type' is '{modelType}': only GPT-2 ('gpt2') checkpoints are supported");
        var activation = json.StringOrNull("activation_function") switch
        {
            null or "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => MlpActivation.GeluTanh,
            "gelu" or "gelu_python" => MlpActivation.GeluErf,
            var other => throw new WeightLoadException(path,
                $"key 'activation_function' is '{other}', which this service does not compute: expected gelu_new (or gelu_pytorch_tanh, gelu_fast: the tanh form) or gelu (or gelu_python: the erf form)"),
        };
        var config = new GptConfig(json.Int("n_embd"), json.Int("n_layer"), json.Int("n_head"), nCtx, json.Int("vocab_size"),
            json.Double("layer_norm_epsilon", 1e-5), activation);
        GptParameters.Validate(config, path);
        if (json.IntOrNull("n_inner") is { } inner && inner != config.DFf)
            throw new WeightLoadException(path, $"key 'n_inner' is {inner}: only d_ff = 4 n_embd ({config.DFf}) is supported");
        if (!json.Bool("scale_attn_weights", true))
            throw new WeightLoadException(path, "key 'scale_attn_weights' is false: unscaled attention scores are not supported");
        if (json.Bool("scale_attn_by_inverse_layer_idx", false))
            throw new WeightLoadException(path, "key 'scale_attn_by_inverse_layer_idx' is true: scores scaled by 1/(layer + 1) are not supported");
        if (json.Bool("add_cross_attention", false))
            throw new WeightLoadException(path, "key 'add_cross_attention' is true: cross-attention layers are not supported");
        return (config, json.Bool("tie_word_embeddings", true));
    }

    private delegate IEnumerable<(string Name, torch.Tensor Tensor)> Convert(torch.Tensor source);

    /// <summary>Every tensor name (without prefix) the file may hold, with its stored shape and its TDB counterparts.</summary>
    private static Dictionary<string, (long[] Shape, Convert Convert)> SourceTensors(GptConfig config)
    {
        long d = config.DModel, ff = config.DFf;
        var map = new Dictionary<string, (long[], Convert)>
        {
            ["wte.weight"] = ([config.NVocab, d], Rename("tok_embed.weight")),
            ["wpe.weight"] = ([config.NCtx, d], Rename("pos_embed.weight")),
            ["ln_f.weight"] = ([d], Rename("final_ln.weight")),
            ["ln_f.bias"] = ([d], Rename("final_ln.bias")),
            ["lm_head.weight"] = ([config.NVocab, d], Rename("unembed.weight")),
        };
        for (var layer = 0; layer < config.NLayers; layer++)
        {
            string h = $"h.{layer}.", x = $"xf_layers.{layer}.";
            map[h + "ln_1.weight"] = ([d], Rename(x + "ln_1.weight"));
            map[h + "ln_1.bias"] = ([d], Rename(x + "ln_1.bias"));
            map[h + "ln_2.weight"] = ([d], Rename(x + "ln_2.weight"));
            map[h + "ln_2.bias"] = ([d], Rename(x + "ln_2.bias"));
            map[h + "attn.c_attn.weight"] = ([d, 3 * d], t => SplitQkv(t.t(), x, "weight"));
            map[h + "attn.c_attn.bias"] = ([3 * d], t => SplitQkv(t, x, "bias"));
            map[h + "attn.c_proj.weight"] = ([d, d], Transpose(x + "attn.out_proj.weight"));
            map[h + "attn.c_proj.bias"] = ([d], Rename(x + "attn.out_proj.bias"));
            map[h + "mlp.c_fc.weight"] = ([d, ff], Transpose(x + "mlp.in_layer.weight"));
            map[h + "mlp.c_fc.bias"] = ([ff], Rename(x + "mlp.in_layer.bias"));
            map[h + "mlp.c_proj.weight"] = ([ff, d], Transpose(x + "mlp.out_layer.weight"));
            map[h + "mlp.c_proj.bias"] = ([d], Rename(x + "mlp.out_layer.bias"));
        }
        return map;
    }

    private static Convert Rename(string target) => t => [(target, t)];

    private static Convert Transpose(string target) => t => [(target, t.t())];

    private static IEnumerable<(string, torch.Tensor)> SplitQkv(torch.Tensor qkv, string layerPrefix, string kind)
    {
        var parts = qkv.chunk(3, 0);
        return [($"{layerPrefix}attn.q_proj.{kind}", parts[0]), ($"{layerPrefix}attn.k_proj.{kind}", parts[1]), ($"{layerPrefix}attn.v_proj.{kind}", parts[2])];
    }
}
