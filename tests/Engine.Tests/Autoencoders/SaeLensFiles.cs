using System.Text.Json.Nodes;
using ReconService.Bench.Weights;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Autoencoders;

/// <summary>
/// What a generated SAELens autoencoder is: its architecture, hook and options, in either configuration layout. The
/// weights are random (seeded); <see cref="Reference"/> computes SAELens's encode and decode from them directly, with plain
/// tensor operations that share nothing with the engine's <c>Autoencoder</c>.
/// </summary>
internal sealed record SaeSpec(string Architecture, string Hook, int DIn, int DSae, bool Version6)
{
    public int? K { get; init; }
    public string Normalize { get; init; } = "none";
    public bool ApplyBDecToInput { get; init; } = true;
    public bool? CenterWritingWeights { get; init; }
    public bool RescaleByDecoderNorm { get; init; }
    public bool FinetuningScalingFactor { get; init; }
    /// <summary>JumpReLU thresholds stored as <c>log_threshold</c> instead of <c>threshold</c>.</summary>
    public bool LogThreshold { get; init; }
    /// <summary>BatchTopK's threshold as one float64 0-rank <c>topk_threshold</c> instead of <c>threshold</c>.</summary>
    public bool ScalarTopKThreshold { get; init; }
    /// <summary>Extra <c>cfg.json</c> keys (SAELens 5: top level; SAELens 6: top level too, unless under "metadata").</summary>
    public JsonObject Extra { get; init; } = [];
    /// <summary>Extra keys under SAELens 6's <c>metadata</c> (or at the top for SAELens 5).</summary>
    public JsonObject ExtraMetadata { get; init; } = [];

    public bool IsTranscoder => Architecture.EndsWith("transcoder", StringComparison.Ordinal);
    public bool IsJumpReLU => Architecture is "jumprelu" or "jumprelu_transcoder" or "batchtopk";
    public int Layer => int.Parse(Hook.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The weights SAELens would hold, by name: W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_out], b_dec, threshold.</summary>
    public Dictionary<string, Tensor> Weights(int seed)
    {
        var g = new Generator((ulong)seed);
        Tensor R(params long[] shape) => randn(shape, generator: g).mul_(0.3f);
        var weights = new Dictionary<string, Tensor>
        {
            ["W_enc"] = R(DIn, DSae), ["b_enc"] = R(DSae), ["W_dec"] = R(DSae, DIn), ["b_dec"] = R(DIn),
        };
        if (IsJumpReLU) weights["threshold"] = ScalarTopKThreshold ? ones(DSae) * 0.21f : rand([DSae], generator: g).mul_(0.5f);
        if (FinetuningScalingFactor) weights["finetuning_scaling_factor"] = rand([DSae], generator: g).add_(0.5f);
        return weights;
    }

    /// <summary>Writes <c>&lt;root&gt;/&lt;hook&gt;/cfg.json</c> and <c>sae_weights.safetensors</c>; returns the weights written.</summary>
    public Dictionary<string, Tensor> Write(string root, int seed, Action<List<(string Name, Tensor Tensor)>>? edit = null)
    {
        var folder = Path.Combine(root, Hook);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "cfg.json"), Config().ToJsonString());
        var weights = Weights(seed);
        var stored = weights.Where(kv => kv.Key != "threshold" || !(LogThreshold || ScalarTopKThreshold)).Select(kv => (kv.Key, kv.Value)).ToList();
        if (LogThreshold) stored.Add(("log_threshold", weights["threshold"].log()));
        edit?.Invoke(stored);
        if (ScalarTopKThreshold)
        {
            // float64, 0-rank, as SAELens's BatchTopK keeps it: written with the fixture, which takes any dtype.
            SafetensorsWriter.Write(Path.Combine(folder, "sae_weights.safetensors"), stored);
            var file = Loading.SafetensorsFixture.Read(Path.Combine(folder, "sae_weights.safetensors"));
            file.Tensors.Add(new Loading.SafetensorsFixture.Entry("topk_threshold", "F64", [], BitConverter.GetBytes(0.21)));
            file.Write(Path.Combine(folder, "sae_weights.safetensors"));
        }
        else
        {
            SafetensorsWriter.Write(Path.Combine(folder, "sae_weights.safetensors"), stored);
        }
        return weights;
    }

    public JsonObject Config()
    {
        var top = new JsonObject
        {
            ["architecture"] = Architecture, ["d_in"] = DIn, ["d_sae"] = DSae, ["dtype"] = "float32", ["device"] = "cpu",
            ["apply_b_dec_to_input"] = ApplyBDecToInput, ["normalize_activations"] = Normalize,
        };
        var meta = new JsonObject { ["model_name"] = "random", ["hook_name"] = Hook, ["prepend_bos"] = true, ["context_size"] = 128 };
        if (CenterWritingWeights is { } center) meta["model_from_pretrained_kwargs"] = new JsonObject { ["center_writing_weights"] = center, ["fold_ln"] = false };
        if (IsTranscoder)
        {
            top["d_out"] = DIn;
            meta["hook_name_out"] = $"blocks.{Layer}.hook_mlp_out";
        }
        if (Version6)
        {
            top["reshape_activations"] = "none";
            if (K is { } k) top["k"] = k;
            if (RescaleByDecoderNorm) top["rescale_acts_by_decoder_norm"] = true;
            meta["sae_lens_version"] = "6.5.0";
            meta["sae_lens_training_version"] = "6.5.0";
            foreach (var (key, value) in ExtraMetadata) meta[key] = value?.DeepClone();
            top["metadata"] = meta;
        }
        else
        {
            foreach (var (key, value) in meta) top[key] = value?.DeepClone();
            top["hook_layer"] = Layer;
            top["activation_fn"] = K is null ? "relu" : "topk";
            if (K is { } k) top["activation_fn_kwargs"] = new JsonObject { ["k"] = k };
            top["finetuning_scaling_factor"] = FinetuningScalingFactor;
            top["sae_lens_training_version"] = "3.13.0";
            top["l1_coefficient"] = 5.0;
            foreach (var (key, value) in ExtraMetadata) top[key] = value?.DeepClone();
        }
        foreach (var (key, value) in Extra) top[key] = value?.DeepClone();
        return top;
    }

    /// <summary>
    /// SAELens's <c>encode</c> and <c>decode</c> written out (sae.py <c>process_sae_in</c>, the architectures' encode and
    /// decode) on input <paramref name="x"/> <c>[tokens, d_in]</c> as the model computes it.
    /// </summary>
    public (Tensor Latents, Tensor Reconstruction) Reference(Dictionary<string, Tensor> w, Tensor x)
    {
        var sx = CenterWritingWeights == true && CentredHook ? x - x.mean([-1], keepdim: true) : x;
        Tensor? coefficient = null, mu = null, std = null;
        if (Normalize == "constant_norm_rescale")
        {
            coefficient = Math.Sqrt(DIn) / sx.square().sum(-1, keepdim: true).sqrt();
            sx = sx * coefficient;
        }
        else if (Normalize == "layer_norm")
        {
            mu = sx.mean([-1], keepdim: true);
            var centred = sx - mu;
            std = (centred.square().sum(-1, keepdim: true) / (DIn - 1)).sqrt();
            sx = centred / (std + 1e-5);
        }
        var saeIn = ApplyBDecToInput && !IsTranscoder ? sx - w["b_dec"] : sx;
        var hidden = saeIn.matmul(w["W_enc"]) + w["b_enc"];
        var norms = w["W_dec"].square().sum(1).sqrt();
        if (RescaleByDecoderNorm) hidden = hidden * norms;
        Tensor acts;
        if (K is { } k)
        {
            var (values, indices) = hidden.topk(k, dim: -1);
            acts = zeros_like(hidden).scatter(-1, indices, values.relu());
        }
        else if (IsJumpReLU)
        {
            acts = hidden.relu() * hidden.gt(w["threshold"]).to_type(ScalarType.Float32);
        }
        else
        {
            acts = hidden.relu();
        }
        var decoded = RescaleByDecoderNorm ? acts / norms : acts;
        if (FinetuningScalingFactor) decoded = decoded * w["finetuning_scaling_factor"];
        var output = decoded.matmul(w["W_dec"]) + w["b_dec"];
        if (!IsTranscoder && coefficient is not null) output = output / coefficient;
        if (!IsTranscoder && std is not null) output = output * std + mu!;
        return (acts, output);
    }

    private bool CentredHook => !(Hook.EndsWith("mlp.hook_post", StringComparison.Ordinal) || Hook.EndsWith("ln2.hook_normalized", StringComparison.Ordinal));
}
