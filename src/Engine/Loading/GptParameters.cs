using ReconService.Engine.Model;

namespace ReconService.Engine.Loading;

/// <summary>TDB's parameter names and the shapes <see cref="GptCheckpoint"/> documents, for one configuration.</summary>
internal static class GptParameters
{
    /// <summary>Every parameter a checkpoint of <paramref name="config"/> holds, in TDB's order, with its shape.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Expected(GptConfig config)
    {
        long d = config.DModel, ff = config.DFf;
        var list = new List<(string, long[])>
        {
            ("tok_embed.weight", [config.NVocab, d]),
            ("pos_embed.weight", [config.NCtx, d]),
        };
        for (var layer = 0; layer < config.NLayers; layer++)
        {
            var p = $"xf_layers.{layer}.";
            list.Add((p + "ln_1.weight", [d]));
            list.Add((p + "ln_1.bias", [d]));
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                list.Add(($"{p}attn.{proj}.weight", [d, d]));
                list.Add(($"{p}attn.{proj}.bias", [d]));
            }
            list.Add((p + "ln_2.weight", [d]));
            list.Add((p + "ln_2.bias", [d]));
            list.Add((p + "mlp.in_layer.weight", [ff, d]));
            list.Add((p + "mlp.in_layer.bias", [ff]));
            list.Add((p + "mlp.out_layer.weight", [d, ff]));
            list.Add((p + "mlp.out_layer.bias", [d]));
        }
        list.Add(("final_ln.weight", [d]));
        list.Add(("final_ln.bias", [d]));
        list.Add(("unembed.weight", [config.NVocab, d]));
        return list;
    }

    /// <summary>Checks sizes read from a configuration file before any tensor is read.</summary>
    /// <exception cref="WeightLoadException">A non-positive size, or <c>d_model</c> not divisible by <c>n_heads</c>.</exception>
    public static void Validate(GptConfig config, string configPath)
    {
        if (config.DModel <= 0 || config.NLayers <= 0 || config.NHeads <= 0 || config.NCtx <= 0 || config.NVocab <= 0)
            throw new WeightLoadException(configPath, $"sizes must be positive, got {config}");
        if (config.DModel % config.NHeads != 0)
            throw new WeightLoadException(configPath, $"d_model ({config.DModel}) must be divisible by n_heads ({config.NHeads})");
    }
}
