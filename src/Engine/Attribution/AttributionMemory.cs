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
    /// Peak bytes, as an upper bound of what libtorch allocates (checked against the process's peak resident memory by
    /// <c>bench/AttributionBench --memory</c>). For the largest group of equal-length sequences (groups run one after
    /// another): what the forward keeps for the backward pass and the gradients it returns, per layer 5 values per
    /// query-key pair and head (scores, probabilities and their copies; the probabilities' gradient), 16 per token and
    /// d_model, 6 per token and d_ff, and for each spliced autoencoder its latents and input; the derived scalars, of
    /// which only one family at one layer is alive at a time (its computed groups plus 4 tensors of intermediates) unless
    /// <c>dense</c> keeps them all; the logits and their softmax. Plus the answer's tensors.
    /// </summary>
    public static long WorkingBytes(AttributionSpec spec, IReadOnlyList<AttributionGroup> groups, IReadOnlyList<NodeFamily> families,
        IReadOnlyList<SplicedFamily> splices, int[] lengths, GptConfig config)
    {
        long peak = 0;
        var computed = groups.Count + (spec.VerifyTopN > 0 && !groups.Contains(AttributionGroup.ActTimesGrad) ? 1 : 0);
        foreach (var byLength in lengths.GroupBy(l => l))
        {
            long b = byLength.Count(), t = byLength.Key;
            long perLayer = b * t * t * config.NHeads * 5 + b * t * config.DModel * 16 + b * t * config.DFf * 6;
            long elements = perLayer * config.NLayers;
            foreach (var splice in splices)
                foreach (var ae in splice.Set.Layers.Values)
                    elements += b * t * ae.NLatents * 4 + b * t * (ae.NInputs + ae.NOutputs) * 4;
            long scalars = 0;
            foreach (var family in families)
                foreach (var layer in family.LayerKeys)
                {
                    var values = b * family.Shape(t, config, layer).Aggregate(1L, (x, y) => x * y);
                    scalars = spec.Dense ? scalars + computed * values : Math.Max(scalars, (computed + 4) * values);
                }
            elements += scalars + 2 * b * (spec.Dense ? t : 1) * config.NVocab;
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
