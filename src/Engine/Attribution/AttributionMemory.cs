using ReconService.Engine.Model;
using ReconService.Models.Wire;

namespace ReconService.Engine.Attribution;

/// <summary>The answer's tensors and the working-memory estimate of a plan, known before any tensor work.</summary>
internal static class AttributionMemory
{
    /// <summary>Every tensor of the answer, per sequence (before any <c>output</c> reduction).</summary>
    public static IReadOnlyList<PlannedTensor> Tensors(AttributionSpec spec, IReadOnlyList<AttributionGroup> groups,
        IReadOnlyList<NodeFamily> families, int[] lengths, GptConfig config)
    {
        var tensors = new List<PlannedTensor>();
        for (var i = 0; i < lengths.Length; i++)
        {
            long t = lengths[i];
            if (spec.Dense) tensors.Add(new(i, "logits", [t, config.NVocab]));
            foreach (var group in groups)
                foreach (var family in families)
                    tensors.Add(new(i, $"sums/{AttributionNames.Of(group)}/{family.Dst(group)}", family.Kind == FamilyKind.Heads ? [t, t] : [t]));
            if (!spec.Dense) continue;
            foreach (var group in groups)
                foreach (var family in families)
                    foreach (var layer in family.LayerKeys)
                        tensors.Add(new(i, $"scalars/{AttributionNames.Of(group)}/{family.Dst(group)}/{AttributionNames.Layer(layer)}",
                            family.Shape(t, config, layer)));
        }
        return tensors;
    }

    /// <summary>
    /// Peak bytes: for the largest group of equal-length sequences (they run together), what the forward keeps for the
    /// backward pass (attention maps, MLP activations, residuals, autoencoder latents), the derived scalars of every
    /// computed group, the logits; plus the answer's tensors.
    /// </summary>
    public static long WorkingBytes(AttributionSpec spec, IReadOnlyList<AttributionGroup> groups, IReadOnlyList<NodeFamily> families,
        IReadOnlyList<SplicedFamily> splices, int[] lengths, GptConfig config)
    {
        long peak = 0;
        var computed = groups.Count + (spec.VerifyTopN > 0 && !groups.Contains(AttributionGroup.ActTimesGrad) ? 1 : 0);
        foreach (var byLength in lengths.GroupBy(l => l))
        {
            long b = byLength.Count(), t = byLength.Key;
            long perLayer = b * t * t * config.NHeads * 6 + b * t * config.DModel * 16 + b * t * config.DFf * 6;
            long elements = perLayer * config.NLayers;
            foreach (var splice in splices)
                foreach (var ae in splice.Set.Layers.Values)
                    elements += b * t * ae.NLatents * 4 + b * t * ae.NInputs * 4;
            foreach (var family in families)
                foreach (var layer in family.LayerKeys)
                    elements += computed * b * family.Shape(t, config, layer).Aggregate(1L, (x, y) => x * y);
            elements += 2 * b * (spec.Dense ? t : 1) * config.NVocab;
            peak = Math.Max(peak, elements * sizeof(float));
        }
        var answer = Tensors(spec, groups, families, lengths, config).Sum(p => p.Shape.Aggregate(1L, (x, y) => x * y));
        return peak + answer * sizeof(float);
    }
}

/// <summary>Wire spellings used in tensor paths.</summary>
internal static class AttributionNames
{
    /// <summary><c>activation</c>, <c>act_times_grad</c>, <c>write_norm</c>, <c>direction_write</c>.</summary>
    public static string Of(AttributionGroup group) => group switch
    {
        AttributionGroup.Activation => "activation",
        AttributionGroup.ActTimesGrad => "act_times_grad",
        AttributionGroup.WriteNorm => "write_norm",
        _ => "direction_write",
    };

    /// <summary>The layer key of <c>scalars</c>: the layer number, or <c>none</c>.</summary>
    public static string Layer(int? layer) => layer?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none";
}
