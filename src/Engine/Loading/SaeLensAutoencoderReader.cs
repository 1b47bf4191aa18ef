using System.Text.RegularExpressions;
using ReconService.Engine.Autoencoders;
using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine.Loading;

/// <summary>
/// Reads SAELens autoencoders: one folder per layer with <c>cfg.json</c> and <c>sae_weights.safetensors</c>
/// (<c>W_enc [d_in, d_sae]</c>, <c>b_enc [d_sae]</c>, <c>W_dec [d_sae, d_in]</c>, <c>b_dec [d_in]</c>), mapped onto
/// TDB's autoencoder: <c>encoder.weight = W_enc^T</c>, <c>decoder.weight = W_dec^T</c>, <c>pre_bias = b_dec</c>,
/// <c>latent_bias = b_enc</c>. The input type and layer come from <c>hook_name</c> and <c>hook_layer</c>.
/// </summary>
internal static partial class SaeLensAutoencoderReader
{
    public const string ConfigFile = "cfg.json", WeightsFile = "sae_weights.safetensors";
    private static readonly string[] TensorNames = ["W_enc", "b_enc", "W_dec", "b_dec"];

    [GeneratedRegex(@"^blocks\.(\d+)\.(mlp\.hook_post|hook_mlp_out|hook_attn_out)$")]
    private static partial Regex Hook();

    public static List<LoadedAutoencoder> Read(IEnumerable<string> folders) =>
        folders.Order(StringComparer.Ordinal).Select(ReadOne).ToList();

    private static LoadedAutoencoder ReadOne(string folder)
    {
        var cfg = JsonConfig.Read(Path.Combine(folder, ConfigFile));
        var (layer, inputType) = ReadHook(cfg);
        var (activation, k) = ReadActivation(cfg);
        int dIn = cfg.Int("d_in"), dSae = cfg.Int("d_sae");

        var weights = Path.Combine(folder, WeightsFile);
        var names = SafetensorsReader.ReadHeader(weights).Keys;
        foreach (var name in names.Where(n => !TensorNames.Contains(n)))
            throw new WeightLoadException(weights, $"unexpected tensor '{name}'");
        foreach (var name in TensorNames.Where(n => !names.Contains(n)))
            throw new WeightLoadException(weights, $"missing tensor '{name}'");
        var t = SafetensorsReader.Read(weights);
        TensorChecks.ExpectShape(t["W_enc"], weights, "W_enc", dIn, dSae);
        TensorChecks.ExpectShape(t["b_enc"], weights, "b_enc", dSae);
        TensorChecks.ExpectShape(t["W_dec"], weights, "W_dec", dSae, dIn);
        TensorChecks.ExpectShape(t["b_dec"], weights, "b_dec", dIn);

        var latentBias = t["b_enc"];
        // Without apply_b_dec_to_input SAELens encodes x W_enc + b_enc; TDB always encodes (x - pre_bias) W_enc^T + latent_bias,
        // which is the same map once b_dec W_enc is folded into the latent bias.
        if (!cfg.Bool("apply_b_dec_to_input", true)) latentBias = latentBias + t["b_dec"].matmul(t["W_enc"]);
        try
        {
            var autoencoder = new Autoencoder(t["b_dec"], t["W_enc"].t().contiguous(), latentBias, t["W_dec"].t().contiguous(), activation, k);
            return new LoadedAutoencoder(layer, folder, inputType, autoencoder);
        }
        catch (ArgumentException e)
        {
            throw new WeightLoadException(cfg.Path, e.Message, e);
        }
    }

    private static (int Layer, AutoencoderInputType InputType) ReadHook(JsonConfig cfg)
    {
        var hook = cfg.StringOrNull("hook_name") ?? throw new WeightLoadException(cfg.Path, "missing key 'hook_name'");
        var match = Hook().Match(hook);
        if (!match.Success)
            throw new WeightLoadException(cfg.Path,
                $"unsupported hook_name '{hook}': expected blocks.<L>.mlp.hook_post, blocks.<L>.hook_mlp_out or blocks.<L>.hook_attn_out");
        var layer = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var hookLayer = cfg.IntOrNull("hook_layer") ?? layer;
        if (hookLayer != layer)
            throw new WeightLoadException(cfg.Path, $"hook_layer {hookLayer} disagrees with hook_name '{hook}'");
        var inputType = match.Groups[2].Value switch
        {
            "mlp.hook_post" => AutoencoderInputType.MlpPostAct,
            "hook_mlp_out" => AutoencoderInputType.ResidDeltaMlp,
            _ => AutoencoderInputType.ResidDeltaAttn,
        };
        return (layer, inputType);
    }

    private static (AutoencoderActivation Activation, int? K) ReadActivation(JsonConfig cfg)
    {
        var architecture = cfg.StringOrNull("architecture");
        if (architecture is not (null or "standard" or "topk"))
            throw new WeightLoadException(cfg.Path, $"unsupported architecture '{architecture}' (expected standard or topk)");
        var normalize = cfg.StringOrNull("normalize_activations");
        if (normalize is not (null or "none"))
            throw new WeightLoadException(cfg.Path, $"unsupported normalize_activations '{normalize}': TDB's autoencoder does not normalise its input");
        var name = cfg.StringOrNull("activation_fn") ?? cfg.StringOrNull("activation_fn_str") ?? (architecture == "topk" ? "topk" : "relu");
        switch (name)
        {
            case "relu":
                return (AutoencoderActivation.ReLU, null);
            case "topk":
                var k = cfg.ObjectOrNull("activation_fn_kwargs")?.IntOrNull("k")
                    ?? throw new WeightLoadException(cfg.Path, "activation_fn topk needs activation_fn_kwargs.k");
                return (AutoencoderActivation.TopK, k);
            default:
                throw new WeightLoadException(cfg.Path, $"unsupported activation_fn '{name}' (expected relu or topk)");
        }
    }
}
