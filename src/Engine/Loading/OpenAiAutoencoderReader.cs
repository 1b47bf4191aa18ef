using System.Collections;
using System.Globalization;
using ReconService.Engine.Autoencoders;
using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine.Loading;

/// <summary>
/// Reads OpenAI/TDB autoencoders: <c>&lt;layer&gt;.pt</c>, each a <c>torch.save</c>d state dict as TDB's
/// <c>Autoencoder.state_dict</c> writes it (<c>pre_bias</c>, <c>encoder.weight</c>, <c>latent_bias</c>,
/// <c>decoder.weight</c>, bookkeeping buffers, <c>activation</c> and <c>activation_state_dict</c>); read with
/// TorchSharp.PyBridge, which keeps the strings and nested dictionaries.
/// </summary>
internal static class OpenAiAutoencoderReader
{
    private static readonly string[] Weights = ["pre_bias", "encoder.weight", "latent_bias", "decoder.weight"];

    // Training statistics, and the activation's own state-dict entries (TopK writes "activation.k", "activation.postact_fn").
    private static readonly HashSet<string> Ignored =
        ["stats_last_nonzero", "latents_activation_frequency", "latents_mean_square", "activation", "activation_state_dict"];

    /// <summary>Reads each <c>&lt;layer&gt;.pt</c>.</summary>
    /// <param name="files">The files.</param>
    /// <param name="inputType">What they encode (the files do not say).</param>
    /// <param name="centerWritingWeights">
    /// True when they were trained on a model with centred writing weights (TDB's own were not): the input's mean is then removed first.
    /// </param>
    public static List<LoadedAutoencoder> Read(IEnumerable<string> files, AutoencoderInputType inputType, bool centerWritingWeights)
    {
        var result = new List<LoadedAutoencoder>();
        var preprocessing = new AutoencoderPreprocessing(CentreInput: centerWritingWeights && AutoencoderInputTypes.CentredByWritingWeights(inputType));
        foreach (var file in files.Order(StringComparer.Ordinal))
        {
            var stem = Path.GetFileNameWithoutExtension(file);
            if (!int.TryParse(stem, NumberStyles.None, CultureInfo.InvariantCulture, out var layer))
                throw new WeightLoadException(file, "unexpected file: autoencoder files must be named <layer>.pt");
            var autoencoder = ReadOne(file, preprocessing);
            var architecture = autoencoder.Activation == AutoencoderActivation.TopK ? "topk" : "standard";
            result.Add(new LoadedAutoencoder(layer, file, inputType, autoencoder, new AutoencoderDescription("openai", architecture)));
        }
        return result;
    }

    private static Autoencoder ReadOne(string file, AutoencoderPreprocessing preprocessing)
    {
        var dict = TorchStateDictReader.Read(file);
        foreach (var key in dict.Keys.Cast<object>().Select(k => k.ToString() ?? ""))
            if (!Weights.Contains(key) && !Ignored.Contains(key) && !key.StartsWith("activation.", StringComparison.Ordinal))
                throw new WeightLoadException(file, $"unexpected tensor '{key}'");

        var t = Weights.ToDictionary(name => name, name => Tensor(dict, file, name));
        var encoder = t["encoder.weight"];
        if (encoder.dim() != 2)
            throw new WeightLoadException(file, $"tensor 'encoder.weight': expected shape [n_latents, n_inputs], got {TensorChecks.Format(encoder.shape)}");
        long nLatents = encoder.shape[0], nInputs = encoder.shape[1];
        TensorChecks.ExpectShape(t["pre_bias"], file, "pre_bias", nInputs);
        TensorChecks.ExpectShape(t["latent_bias"], file, "latent_bias", nLatents);
        TensorChecks.ExpectShape(t["decoder.weight"], file, "decoder.weight", nInputs, nLatents);

        var (activation, k, post) = ReadActivation(dict, file);
        try
        {
            return new Autoencoder(t["pre_bias"], encoder, t["latent_bias"], t["decoder.weight"], activation, k, post, preprocessing: preprocessing);
        }
        catch (ArgumentException e)
        {
            throw new WeightLoadException(file, e.Message, e);
        }
    }

    private static torch.Tensor Tensor(Hashtable dict, string file, string name) => dict[name] switch
    {
        torch.Tensor tensor => TensorChecks.ToFloat32(tensor, file, name).contiguous(),
        null => throw new WeightLoadException(file, $"missing tensor '{name}'"),
        var other => throw new WeightLoadException(file, $"entry '{name}' is a {other.GetType().Name}, not a tensor"),
    };

    /// <summary>
    /// TDB's <c>Autoencoder.from_state_dict</c>, except that a missing <c>activation</c> is refused: TDB would default to ReLU,
    /// but the file then does not say what its latents are. TopK needs <c>k</c> and <c>postact_fn</c>.
    /// </summary>
    private static (AutoencoderActivation, int?, AutoencoderActivation) ReadActivation(Hashtable dict, string file)
    {
        var name = dict["activation"] ?? throw new WeightLoadException(file,
            "missing entry 'activation': the file does not say which activation its latents use (TDB would assume ReLU); " +
            "save it with activation set to ReLU, TopK or Identity");
        var activation = AutoencoderActivations.TryParse(name as string)
            ?? throw new WeightLoadException(file, $"entry 'activation': unsupported activation '{name}' (expected ReLU, Identity or TopK)");
        if (activation != AutoencoderActivation.TopK) return (activation, null, AutoencoderActivation.ReLU);

        var state = dict["activation_state_dict"] as IDictionary;
        var kValue = state?["k"] ?? dict["activation.k"]
            ?? throw new WeightLoadException(file, "entry 'activation_state_dict': TopK without 'k'");
        if (kValue is not (int or long))
            throw new WeightLoadException(file, $"entry 'activation_state_dict.k' must be an integer, got {kValue}");
        var post = state?["postact_fn"] ?? dict["activation.postact_fn"];
        return (activation, Convert.ToInt32(kValue, CultureInfo.InvariantCulture), ReadPostActivation(post, file));
    }

    /// <summary><c>postact_fn</c>: a class name, or a nested dictionary one of whose values is the class name.</summary>
    private static AutoencoderActivation ReadPostActivation(object? value, string file)
    {
        if (value is null) return AutoencoderActivation.ReLU;
        var candidates = value is IDictionary nested
            ? nested.Values.Cast<object?>().Select(v => AutoencoderActivations.TryParse(v as string)).OfType<AutoencoderActivation>().Distinct().ToList()
            : [.. new[] { AutoencoderActivations.TryParse(value as string) }.OfType<AutoencoderActivation>()];
        if (candidates is [var post and not AutoencoderActivation.TopK]) return post;
        throw new WeightLoadException(file, $"entry 'activation_state_dict.postact_fn': expected ReLU or Identity, got {Describe(value)}");
    }

    private static string Describe(object value) => value is IDictionary d
        ? "{" + string.Join(", ", d.Keys.Cast<object>().Select(k => $"{k}: {d[k]}")) + "}"
        : value.ToString() ?? "";
}
