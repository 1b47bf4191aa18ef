using ReconService.Engine.Autoencoders;
using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine.Loading;

/// <summary>Loads a family of sparse autoencoders, one per layer, from a folder in either layout the reference uses.</summary>
public static class AutoencoderLoader
{
    private static readonly string[] LayoutFolders = ["autoencoders", "saelens"];

    /// <summary>
    /// Loads the autoencoders in <paramref name="folder"/>:
    /// <list type="bullet">
    /// <item>OpenAI/TDB layout: <c>&lt;layer&gt;.pt</c> files in the folder, each a <c>torch.save</c>d TDB autoencoder state dict
    /// (<c>encoder.weight [n_latents, n_inputs]</c>, <c>decoder.weight [n_inputs, n_latents]</c>, <c>pre_bias</c>,
    /// <c>latent_bias</c>, <c>activation</c>, <c>activation_state_dict</c>). The files do not say what they encode: the input
    /// type is <paramref name="inputType"/>, else the release name in the path (<c>mlp_post_act</c>, <c>resid_delta_mlp</c>,
    /// <c>resid_delta_attn</c>).</item>
    /// <item>SAELens layout: one sub-folder per layer with <c>cfg.json</c> (SAELens 5 or 6) and <c>sae_weights.safetensors</c>;
    /// the input type and layer come from <c>hook_name</c> (<c>blocks.L.</c> + <c>mlp.hook_post</c>, <c>hook_mlp_out</c>,
    /// <c>hook_attn_out</c>, <c>hook_resid_pre</c>, <c>hook_resid_mid</c>, <c>hook_resid_post</c>, <c>hook_mlp_in</c>,
    /// <c>ln2.hook_normalized</c>); architectures standard, topk, jumprelu, batchtopk (its threshold form), transcoder and
    /// jumprelu_transcoder (see <see cref="SaeLensAutoencoderReader"/>).</item>
    /// </list>
    /// A folder holding neither but exactly one of <c>autoencoders/</c> or <c>saelens/</c> is read through that sub-folder.
    /// Weights are float32 on the CPU whatever their stored dtype (float32, float16, bfloat16).
    /// </summary>
    /// <param name="name">Name of the set (what requests call it).</param>
    /// <param name="folder">The folder to read.</param>
    /// <param name="inputType">The activation the autoencoders encode; required for the OpenAI layout when the path names no release.</param>
    /// <param name="centerWritingWeights">
    /// Whether they were trained on a TransformerLens model with centred writing weights; null takes SAELens's
    /// <c>model_from_pretrained_kwargs.center_writing_weights</c> (false when absent, and for OpenAI files).
    /// </param>
    /// <param name="log">Receives what was tolerated instead of refused, one line each.</param>
    /// <returns>The autoencoders by layer. The caller owns them.</returns>
    /// <exception cref="WeightLoadException">
    /// Missing folder or file; missing, unexpected, wrongly shaped or unsupported tensors; truncated or corrupt files; an input
    /// type that cannot be told or that contradicts <c>cfg.json</c>; layers that disagree (input type, width, architecture,
    /// activation, preprocessing) or repeat; a configuration key that changes the computation in a way not supported here
    /// (an architecture, activation, normalisation, hook or model keyword argument). The message names the file and the
    /// tensor or key.
    /// </exception>
    public static AutoencoderSet Load(string name, string folder, AutoencoderInputType? inputType = null, bool? centerWritingWeights = null,
        Action<string>? log = null)
    {
        if (!Directory.Exists(folder)) throw new WeightLoadException(folder, $"autoencoder folder for '{name}' not found");
        folder = ResolveLayoutFolder(folder);
        var ptFiles = Directory.GetFiles(folder, "*.pt");
        var saeFolders = Directory.GetDirectories(folder).Where(IsSaeLensFolder).ToArray();
        if (ptFiles.Length > 0 && saeFolders.Length > 0)
            throw new WeightLoadException(folder, "holds both .pt files (OpenAI layout) and SAELens folders: point at one layout");

        using var scope = torch.NewDisposeScope();
        List<LoadedAutoencoder> loaded;
        if (ptFiles.Length > 0)
        {
            var type = inputType ?? AutoencoderInputTypes.FromPath(folder) ?? throw new WeightLoadException(folder,
                $"cannot tell which activation the autoencoders encode: the path names no release (mlp_post_act, resid_delta_mlp, " +
                $"resid_delta_attn); set Autoencoders:{name}:InputType to mlp.post_act, resid.delta_mlp or resid.delta_attn");
            loaded = OpenAiAutoencoderReader.Read(ptFiles, type, centerWritingWeights ?? false);
        }
        else if (saeFolders.Length > 0)
        {
            loaded = SaeLensAutoencoderReader.Read(saeFolders, centerWritingWeights, log);
            var contradicting = loaded.FirstOrDefault(a => inputType is { } given && a.InputType != given);
            if (contradicting is not null)
                throw new WeightLoadException(Path.Combine(contradicting.Path, SaeLensAutoencoderReader.ConfigFile),
                    $"its hook reads {AutoencoderInputTypes.Location(contradicting.InputType)}, but the input type was configured as {AutoencoderInputTypes.Location(inputType!.Value)}");
        }
        else
        {
            throw new WeightLoadException(folder, "no autoencoders found: expected <layer>.pt files or SAELens folders (cfg.json + sae_weights.safetensors)");
        }

        CheckConsistent(folder, loaded);
        foreach (var a in loaded) a.Autoencoder.DetachFromDisposeScope();
        return new AutoencoderSet(name, loaded[0].InputType, loaded.ToDictionary(a => a.Layer, a => a.Autoencoder))
        {
            OutputType = loaded[0].OutputType,
            Description = loaded[0].Description,
        };
    }

    private static bool IsSaeLensFolder(string dir) =>
        File.Exists(Path.Combine(dir, SaeLensAutoencoderReader.ConfigFile)) || File.Exists(Path.Combine(dir, SaeLensAutoencoderReader.WeightsFile));

    private static string ResolveLayoutFolder(string folder)
    {
        if (Directory.GetFiles(folder, "*.pt").Length > 0 || Directory.GetDirectories(folder).Any(IsSaeLensFolder)) return folder;
        var layouts = LayoutFolders.Select(l => Path.Combine(folder, l)).Where(Directory.Exists).ToList();
        return layouts.Count switch
        {
            1 => layouts[0],
            0 => folder,
            _ => throw new WeightLoadException(folder, $"holds both {string.Join(" and ", LayoutFolders)}/: point at one of them"),
        };
    }

    /// <summary>Layers of one family must agree on what <paramref name="key"/> returns; a family is described once in <c>GET /v1/model</c>.</summary>
    private static void Same<T>(LoadedAutoencoder a, LoadedAutoencoder first, string what, Func<LoadedAutoencoder, T> key)
    {
        if (!EqualityComparer<T>.Default.Equals(key(a), key(first)))
            throw new WeightLoadException(a.Path, $"inconsistent layers: layer {a.Layer} differs in {what} from layer {first.Layer} ({first.Path}): {key(a)} vs {key(first)}");
    }

    private static void CheckConsistent(string folder, List<LoadedAutoencoder> loaded)
    {
        var first = loaded[0];
        foreach (var a in loaded.Skip(1))
        {
            if (a.InputType != first.InputType)
                throw new WeightLoadException(a.Path, $"inconsistent layers: layer {a.Layer} encodes {AutoencoderInputTypes.Location(a.InputType)}, " +
                    $"layer {first.Layer} ({first.Path}) encodes {AutoencoderInputTypes.Location(first.InputType)}");
            if (a.Autoencoder.NInputs != first.Autoencoder.NInputs)
                throw new WeightLoadException(a.Path, $"inconsistent layers: layer {a.Layer} has n_inputs {a.Autoencoder.NInputs}, " +
                    $"layer {first.Layer} ({first.Path}) has {first.Autoencoder.NInputs}");
            Same(a, first, "architecture, format or hooks", x => x.Description);
            Same(a, first, "output", x => (x.OutputType, x.Autoencoder.NOutputs));
            Same(a, first, "activation", x => (x.Autoencoder.Activation, x.Autoencoder.K, x.Autoencoder.PostActivation));
            Same(a, first, "preprocessing", x => x.Autoencoder.Preprocessing);
        }
        foreach (var group in loaded.GroupBy(a => a.Layer).Where(g => g.Count() > 1))
            throw new WeightLoadException(folder, $"inconsistent layers: layer {group.Key} appears more than once ({string.Join(", ", group.Select(a => a.Path))})");
    }
}
