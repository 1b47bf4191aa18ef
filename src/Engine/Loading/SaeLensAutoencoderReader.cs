using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ReconService.Engine.Autoencoders;
using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine.Loading;

/// <summary>
/// Reads SAELens autoencoders and transcoders: one folder per layer with <c>cfg.json</c> and <c>sae_weights.safetensors</c>
/// (<c>W_enc [d_in, d_sae]</c>, <c>b_enc [d_sae]</c>, <c>W_dec [d_sae, d_out]</c>, <c>b_dec [d_out]</c>, JumpReLU's
/// <c>threshold [d_sae]</c>), mapped onto <see cref="Autoencoder"/>. Both configuration layouts: SAELens 5's flat
/// <c>cfg.json</c> (with its older spellings <c>hook_point</c>, <c>hook_point_layer</c>, <c>activation_fn_str</c>) and
/// SAELens 6's, whose model-side fields sit under <c>metadata</c>. Every key that changes what is computed is honoured
/// or refused by name; keys about training, datasets and bookkeeping are ignored.
/// </summary>
internal static partial class SaeLensAutoencoderReader
{
    public const string ConfigFile = "cfg.json", WeightsFile = "sae_weights.safetensors";

    private static readonly string[] Architectures = ["standard", "topk", "jumprelu", "batchtopk", "transcoder", "jumprelu_transcoder"];

    // model_from_pretrained_kwargs that leave every supported hook's values unchanged: fold_ln moves ln weights into the
    // next layer (ln2.hook_normalized is taken before them anyway), fold_value_biases moves b_V into b_O (attention's output is
    // the same), center_unembed shifts logits, refactor_factored_attn_matrices re-factors Q/K/V/O per head; the rest place or type the model.
    private static readonly HashSet<string> NeutralModelKwargs =
    [
        "fold_ln", "fold_value_biases", "center_unembed", "refactor_factored_attn_matrices",
        "n_devices", "device", "move_to_device", "dtype", "default_prepend_bos", "default_padding_side",
    ];

    [GeneratedRegex(@"^blocks\.(\d+)\.(mlp\.hook_post|hook_mlp_out|hook_attn_out|hook_resid_pre|hook_resid_mid|hook_resid_post|hook_mlp_in|ln2\.hook_normalized)$")]
    private static partial Regex Hook();

    /// <summary>Reads each folder.</summary>
    /// <param name="folders">One folder per layer.</param>
    /// <param name="centerWritingWeights">Overrides <c>model_from_pretrained_kwargs.center_writing_weights</c> when not null.</param>
    /// <param name="log">Receives what was tolerated (skipped empty tensors, an all-ones <c>scaling_factor</c>).</param>
    public static List<LoadedAutoencoder> Read(IEnumerable<string> folders, bool? centerWritingWeights, Action<string>? log) =>
        folders.Order(StringComparer.Ordinal).Select(f => ReadOne(f, centerWritingWeights, log)).ToList();

    private static LoadedAutoencoder ReadOne(string folder, bool? centerWritingWeights, Action<string>? log)
    {
        var cfg = new Config(JsonConfig.Read(Path.Combine(folder, ConfigFile)));
        var (layer, inputType, inputHook) = ReadHook(cfg);
        var architecture = cfg.String("architecture") ?? "standard";
        if (!Architectures.Contains(architecture))
            throw cfg.Error($"unsupported architecture '{architecture}' (supported: {string.Join(", ", Architectures)})");
        var transcoder = architecture.EndsWith("transcoder", StringComparison.Ordinal);
        var (activation, k) = ReadActivation(cfg, architecture);
        var normalization = ReadNormalization(cfg);
        var center = centerWritingWeights ?? ReadCentring(cfg);
        var applyBDec = cfg.Bool("apply_b_dec_to_input", true);
        int dIn = cfg.Int("d_in"), dSae = cfg.Int("d_sae"), dOut = dIn;

        string? outputHook = null;
        if (transcoder)
        {
            if (inputType is not (AutoencoderInputType.Ln2Normalized or AutoencoderInputType.ResidPostAttn))
                throw cfg.Error($"a transcoder must read the MLP's input (blocks.<L>.ln2.hook_normalized, hook_resid_mid or hook_mlp_in), got hook_name '{inputHook}'");
            outputHook = cfg.String("hook_name_out") ?? throw cfg.Error("missing key 'hook_name_out' (a transcoder's output hook)");
            if (outputHook != $"blocks.{layer}.hook_mlp_out")
                throw cfg.Error($"unsupported hook_name_out '{outputHook}': a transcoder here writes the MLP output of its own layer, blocks.{layer}.hook_mlp_out");
            if (cfg.Has("hook_head_index_out")) throw cfg.Error("key 'hook_head_index_out' is set: per-head hooks are not supported");
            if (applyBDec) throw cfg.Error("apply_b_dec_to_input is true, which a transcoder cannot do (its b_dec has the output's width); SAELens refuses it too");
            dOut = cfg.Int("d_out");
            if (dOut != dIn) throw cfg.Error($"d_out {dOut} differs from d_in {dIn}: the MLP input and output are both d_model wide");
        }

        var weights = Path.Combine(folder, WeightsFile);
        var header = SafetensorsReader.ReadHeader(weights);
        var expected = new List<string> { "W_enc", "b_enc", "W_dec", "b_dec" };
        if (activation == AutoencoderActivation.JumpReLU)
            expected.Add(header.ContainsKey("threshold") ? "threshold"
                : header.ContainsKey("log_threshold") ? "log_threshold"
                : architecture == "batchtopk" && header.ContainsKey("topk_threshold") ? "topk_threshold"
                : throw new WeightLoadException(weights, architecture == "batchtopk"
                    ? "missing tensor 'threshold': batchtopk is served only in its inference form, a JumpReLU threshold ('threshold' [d_sae] or 'topk_threshold'); its training form depends on the batch"
                    : "missing tensor 'threshold'"));
        var scaling = ReadScaling(cfg, header, weights, log);
        if (scaling is not null) expected.Add(scaling);
        foreach (var (name, entry) in header)
        {
            if (expected.Contains(name) || name == "scaling_factor") continue;
            if (!TensorChecks.HoldsNothing(entry.Shape)) throw new WeightLoadException(weights, $"unexpected tensor '{name}'");
            log?.Invoke($"{weights}: skipped tensor '{name}' of shape {TensorChecks.Format(entry.Shape)}, which holds {TensorChecks.Describe(entry.Shape)}");
        }
        foreach (var name in expected.Where(n => !header.ContainsKey(n)))
            throw new WeightLoadException(weights, $"missing tensor '{name}'");

        var t = SafetensorsReader.Read(weights, expected.Contains);
        TensorChecks.ExpectShape(t["W_enc"], weights, "W_enc", dIn, dSae);
        TensorChecks.ExpectShape(t["b_enc"], weights, "b_enc", dSae);
        TensorChecks.ExpectShape(t["W_dec"], weights, "W_dec", dSae, dOut);
        TensorChecks.ExpectShape(t["b_dec"], weights, "b_dec", dOut);
        torch.Tensor wEnc = t["W_enc"], bEnc = t["b_enc"], wDec = t["W_dec"], bDec = t["b_dec"];
        torch.Tensor? threshold = null;
        if (t.TryGetValue("threshold", out var th)) threshold = Vector(th, weights, "threshold", dSae);
        if (t.TryGetValue("log_threshold", out var logTh)) threshold = Vector(logTh, weights, "log_threshold", dSae).exp();
        if (t.TryGetValue("topk_threshold", out var topkTh))
        {
            if (topkTh.numel() != 1) throw new WeightLoadException(weights, $"tensor 'topk_threshold': expected one value, got shape {TensorChecks.Format(topkTh.shape)}");
            threshold = torch.ones(dSae) * topkTh.reshape(1).item<float>();
        }
        if (scaling is not null) wDec = wDec * Vector(t[scaling], weights, scaling, dSae).unsqueeze(1);
        if (activation == AutoencoderActivation.TopK && cfg.Bool("rescale_acts_by_decoder_norm", false))
        {
            // SAELens ranks hidden_pre * |W_dec row| and decodes acts / |W_dec row|: the same map with the norms folded in.
            var norms = wDec.norm(1);
            wEnc = wEnc * norms;
            bEnc = bEnc * norms;
            wDec = wDec / norms.unsqueeze(1);
        }

        var latentBias = bEnc;
        // Without apply_b_dec_to_input SAELens encodes x W_enc + b_enc; TDB's form (x - pre_bias) W_enc^T + latent_bias is the
        // same map once b_dec W_enc is folded into the latent bias. A transcoder subtracts nothing (pre_bias zeros).
        if (!applyBDec && !transcoder) latentBias = bEnc + bDec.matmul(wEnc);
        var preprocessing = new AutoencoderPreprocessing(
            CentreInput: center && AutoencoderInputTypes.CentredByWritingWeights(inputType), normalization, CentreOutput: transcoder && center);
        var format = cfg.IsVersion6 ? "saelens-6" : "saelens-5";
        var description = new AutoencoderDescription(format, architecture, Template(inputHook, layer), outputHook is null ? null : Template(outputHook, layer), applyBDec);
        try
        {
            var autoencoder = new Autoencoder(transcoder ? torch.zeros(dIn) : bDec, wEnc.t().contiguous(), latentBias, wDec.t().contiguous(),
                activation, k, AutoencoderActivation.ReLU, threshold, transcoder ? bDec : null, preprocessing);
            return new LoadedAutoencoder(layer, folder, inputType, autoencoder, description, transcoder ? AutoencoderInputType.ResidDeltaMlp : null);
        }
        catch (ArgumentException e)
        {
            throw cfg.Error(e.Message, e);
        }
    }

    private static string Template(string hook, int layer) => hook.Replace($"blocks.{layer}.", "blocks.{layer}.", StringComparison.Ordinal);

    private static torch.Tensor Vector(torch.Tensor tensor, string file, string name, long length)
    {
        TensorChecks.ExpectShape(tensor, file, name, length);
        return tensor;
    }

    private static (int Layer, AutoencoderInputType InputType, string Hook) ReadHook(Config cfg)
    {
        var key = cfg.Has("hook_name") ? "hook_name" : "hook_point";
        var hook = cfg.String(key) ?? throw cfg.Error("missing key 'hook_name'");
        var match = Hook().Match(hook);
        if (!match.Success)
            throw cfg.Error($"unsupported {key} '{hook}': expected blocks.<L>. followed by mlp.hook_post, hook_mlp_out, hook_attn_out, " +
                            "hook_resid_pre, hook_resid_mid, hook_resid_post, hook_mlp_in or ln2.hook_normalized");
        var layer = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var hookLayer = cfg.Int("hook_layer", null) ?? cfg.Int("hook_point_layer", null) ?? layer;
        if (hookLayer != layer) throw cfg.Error($"hook_layer {hookLayer} disagrees with {key} '{hook}'");
        foreach (var head in new[] { "hook_head_index", "hook_point_head_index" })
            if (cfg.Has(head)) throw cfg.Error($"key '{head}' is set: autoencoders on one attention head's activations are not supported");
        if (cfg.String("reshape_activations") is { } reshape and not "none")
            throw cfg.Error($"unsupported reshape_activations '{reshape}' (hook_z autoencoders are not supported)");
        var inputType = match.Groups[2].Value switch
        {
            "mlp.hook_post" => AutoencoderInputType.MlpPostAct,
            "hook_mlp_out" => AutoencoderInputType.ResidDeltaMlp,
            "hook_attn_out" => AutoencoderInputType.ResidDeltaAttn,
            "hook_resid_pre" => AutoencoderInputType.ResidPre,
            "hook_resid_mid" or "hook_mlp_in" => AutoencoderInputType.ResidPostAttn,
            "hook_resid_post" => AutoencoderInputType.ResidPostMlp,
            _ => AutoencoderInputType.Ln2Normalized,
        };
        return (layer, inputType, hook);
    }

    private static (AutoencoderActivation Activation, int? K) ReadActivation(Config cfg, string architecture)
    {
        var name = cfg.String("activation_fn") ?? cfg.String("activation_fn_str");
        switch (architecture)
        {
            case "standard" or "transcoder" when name is null or "relu":
                return (AutoencoderActivation.ReLU, null);
            case "standard" or "topk" when name is "topk" || (architecture == "topk" && name is null):
                var k = cfg.Int("k", null) ?? cfg.Object("activation_fn_kwargs")?.IntOrNull("k")
                    ?? throw cfg.Error($"architecture {architecture} with activation_fn topk needs k (or activation_fn_kwargs.k)");
                return (AutoencoderActivation.TopK, k);
            case "jumprelu" or "jumprelu_transcoder" or "batchtopk" when name is null or "relu":
                return (AutoencoderActivation.JumpReLU, null);
            default:
                throw cfg.Error($"unsupported activation_fn '{name}' for architecture {architecture} (expected relu, or topk for topk)");
        }
    }

    private static AutoencoderNormalization ReadNormalization(Config cfg)
    {
        switch (cfg.Kind("normalize_activations"))
        {
            case JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.False:
                return AutoencoderNormalization.None;
            case JsonValueKind.True:
                throw cfg.Error("normalize_activations true (SAELens's expected_average_only_in) scales inputs by a dataset statistic the files do not hold; fold it into the weights first");
        }
        return cfg.String("normalize_activations") switch
        {
            "none" => AutoencoderNormalization.None,
            "constant_norm_rescale" => AutoencoderNormalization.ConstantNormRescale,
            "layer_norm" => AutoencoderNormalization.LayerNorm,
            "expected_average_only_in" => throw cfg.Error("unsupported normalize_activations 'expected_average_only_in': it scales inputs by a dataset statistic the files do not hold; fold it into the weights first (SAELens fold_activation_norm_scaling_factor)"),
            var other => throw cfg.Error($"unsupported normalize_activations '{other}' (expected none, constant_norm_rescale or layer_norm)"),
        };
    }

    /// <summary><c>model_from_pretrained_kwargs</c>: <c>center_writing_weights</c> honoured, neutral keys accepted, others refused.</summary>
    private static bool ReadCentring(Config cfg)
    {
        var kwargs = cfg.Object("model_from_pretrained_kwargs");
        if (kwargs is null) return false;
        foreach (var key in kwargs.Keys)
            if (key != "center_writing_weights" && !NeutralModelKwargs.Contains(key))
                throw cfg.Error($"unsupported model_from_pretrained_kwargs.{key} ({kwargs.Raw(key)}): understood are center_writing_weights and {string.Join(", ", NeutralModelKwargs)}");
        return kwargs.Bool("center_writing_weights", false);
    }

    /// <summary>
    /// SAELens 5's <c>finetuning_scaling_factor</c>: the decoder multiplies latents by a per-latent tensor. As SAELens reads it,
    /// a <c>scaling_factor</c> of all ones means nothing (skipped), any other needs <c>finetuning_scaling_factor</c> true.
    /// </summary>
    /// <returns>The tensor to fold into the decoder, or null.</returns>
    private static string? ReadScaling(Config cfg, IReadOnlyDictionary<string, SafetensorsReader.Entry> header, string weights, Action<string>? log)
    {
        var enabled = cfg.Bool("finetuning_scaling_factor", false);
        if (header.ContainsKey("scaling_factor"))
        {
            using var scope = torch.NewDisposeScope();
            var values = SafetensorsReader.Read(weights, n => n == "scaling_factor")["scaling_factor"];
            if (values.eq(1).all().item<bool>())
            {
                log?.Invoke($"{weights}: skipped tensor 'scaling_factor', which is all ones");
                return null;
            }
            if (!enabled) throw new WeightLoadException(weights, "tensor 'scaling_factor' is not all ones but finetuning_scaling_factor is false (SAELens refuses this too)");
            return "scaling_factor";
        }
        if (!enabled) return null;
        return header.ContainsKey("finetuning_scaling_factor") ? "finetuning_scaling_factor"
            : throw new WeightLoadException(weights, "missing tensor 'finetuning_scaling_factor' (finetuning_scaling_factor is true)");
    }

    /// <summary>
    /// A <c>cfg.json</c> in either layout: SAELens 6 keeps the model-side keys (<c>hook_name</c>,
    /// <c>model_from_pretrained_kwargs</c>, ...) under <c>metadata</c>; each key is looked up there first, then at the top.
    /// </summary>
    private sealed class Config(JsonConfig root)
    {
        private readonly JsonConfig? _metadata = root.ObjectOrNull("metadata");

        public bool IsVersion6 => _metadata is not null;

        private JsonConfig At(string key) => _metadata is not null && _metadata.KindOf(key) != JsonValueKind.Undefined ? _metadata : root;

        public bool Has(string key) => At(key).Has(key);
        public JsonValueKind Kind(string key) => At(key).KindOf(key);
        public string? String(string key) => At(key).StringOrNull(key);
        public int Int(string key) => At(key).Int(key);
        public int? Int(string key, int? fallback) => At(key).IntOrNull(key) ?? fallback;
        public bool Bool(string key, bool fallback) => At(key).Bool(key, fallback);
        public JsonConfig? Object(string key) => At(key).ObjectOrNull(key);
        public WeightLoadException Error(string message, Exception? inner = null) => new(root.Path, message, inner);
    }
}
