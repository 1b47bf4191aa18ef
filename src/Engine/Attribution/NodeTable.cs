using ReconService.Engine.Model;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>A node: its family (index into the plan's families), layer, and flat index into its per-sequence shape.</summary>
internal readonly record struct NodeKey(int Family, int? Layer, long Flat);

/// <summary>
/// TDB's node table (<c>MultiGroupDerivedScalarStore.topk</c>): for each group in order, the top k of each DST (over
/// all its layers: per-layer top k, then the top k of those) merged and sorted largest first, then the bottom k of each
/// DST likewise; every node once, in first-seen order; then each node's value in every group. TDB includes the bottom k
/// for every group of its node table, write norms and activations too.
/// </summary>
internal static class NodeTable
{
    /// <summary>The nodes of sequence <paramref name="b"/>'s table, in TDB's order.</summary>
    public static List<NodeKey> Select(AttributionPlan plan, ReducedScalars scalars, int b)
    {
        var keys = new List<NodeKey>();
        var seen = new HashSet<NodeKey>();
        if (plan.Spec.TopK == 0) return keys;
        foreach (var group in plan.Groups)
            foreach (var largest in new[] { true, false })
            {
                var candidates = new List<(float Value, NodeKey Key)>();
                for (var f = 0; f < plan.Families.Count; f++)
                    candidates.AddRange(Extremes(plan.Families[f], f, plan.Spec.TopK, largest ? Order.Largest : Order.Smallest,
                        (c, key) => c.Extremes(group, largest).Select(flat => (c.Value(group, flat), key(flat))), scalars, b));
                foreach (var (_, key) in candidates.OrderByDescending(c => c.Value))
                    if (seen.Add(key)) keys.Add(key);
            }
        return keys;
    }

    /// <summary>The <paramref name="n"/> nodes of largest |act × grad| over every family, largest first.</summary>
    public static List<(NodeKey Key, float ActTimesGrad)> LargestActTimesGrad(AttributionPlan plan, ReducedScalars scalars, int b, int n)
    {
        var candidates = new List<(float Value, NodeKey Key)>();
        for (var f = 0; f < plan.Families.Count; f++)
            candidates.AddRange(Extremes(plan.Families[f], f, n, Order.LargestMagnitude,
                (c, key) => c.LargestActTimesGrad.Select(flat => (c.Value(AttributionGroup.ActTimesGrad, flat), key(flat))), scalars, b));
        return candidates.OrderByDescending(c => Math.Abs(c.Value)).Take(n).Select(c => (c.Key, c.Value)).ToList();
    }

    /// <summary>Rows for <paramref name="keys"/>: node type, layer, indices, and the value in every requested group.</summary>
    public static List<AttributionNodeRow> Rows(AttributionPlan plan, ReducedScalars scalars, int b, IReadOnlyList<NodeKey> keys,
        long tokens, GptConfig config) => keys.Select(key =>
    {
        var family = plan.Families[key.Family];
        var candidates = scalars.Candidates(key.Family, key.Layer, b);
        return new AttributionNodeRow(family.NodeType, key.Layer, Unravel(key.Flat, family.Shape(tokens, config, key.Layer)),
            family.Splice?.Set.Name, plan.Groups.ToDictionary(AttributionNames.Of, g => candidates.Value(g, key.Flat)));
    }).ToList();

    /// <summary>A flat index as one index per axis of <paramref name="shape"/>.</summary>
    public static long[] Unravel(long flat, long[] shape)
    {
        var indices = new long[shape.Length];
        for (var axis = shape.Length - 1; axis >= 0; axis--)
        {
            indices[axis] = flat % shape[axis];
            flat /= shape[axis];
        }
        return indices;
    }

    /// <summary>
    /// Indices of the <paramref name="k"/> largest (or smallest) entries of a flat tensor, extreme first: the k blocks of
    /// 256 entries with the most extreme maximum (minimum) hold them all (up to ties), so one vectorised max over blocks
    /// and a top-k over k blocks replace a top-k over everything.
    /// </summary>
    internal static Tensor Extreme(Tensor x, int k, bool largest)
    {
        const int block = 256;
        long n = x.shape[0], blocks = n / block;
        if ((long)k * block * 4 > n) return x.topk(k, largest: largest).indexes;
        var whole = x.narrow(0, 0, blocks * block).view(blocks, block);
        var (_, chosen) = (largest ? whole.amax([1]) : whole.amin([1])).topk(k, largest: largest);
        var candidates = (chosen.unsqueeze(1) * block + arange(block, device: x.device)).reshape(-1);
        if (n > blocks * block) candidates = cat([candidates, arange(blocks * block, n, device: x.device)], 0);
        var (_, order) = x.index_select(0, candidates).topk(k, largest: largest);
        return candidates.index_select(0, order);
    }

    private enum Order { Largest, Smallest, LargestMagnitude }

    /// <summary>
    /// TDB's <c>ActivationsAndMetadata.topk</c> over one family: each layer's own top (or bottom) k (its candidates, kept
    /// in layer order), then the k most extreme of those.
    /// </summary>
    private static IEnumerable<(float Value, NodeKey Key)> Extremes(NodeFamily family, int f, int k, Order order,
        Func<LayerCandidates, Func<long, NodeKey>, IEnumerable<(float Value, NodeKey Key)>> pick, ReducedScalars scalars, int b)
    {
        var candidates = new List<(float Value, NodeKey Key)>();
        foreach (var layer in family.LayerKeys)
            candidates.AddRange(pick(scalars.Candidates(f, layer, b), flat => new NodeKey(f, layer, flat)));
        var ordered = order switch
        {
            Order.LargestMagnitude => candidates.OrderByDescending(c => Math.Abs(c.Value)),
            Order.Largest => candidates.OrderByDescending(c => c.Value),
            _ => candidates.OrderBy(c => c.Value),
        };
        return ordered.Take(k).ToList();
    }
}
