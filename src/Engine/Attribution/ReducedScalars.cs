using ReconService.Models.Wire;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>
/// What the answer needs from the derived scalars, gathered one family and layer at a time so that no layer's full
/// tensors outlive their reduction (unless <c>dense</c> asks for them): TDB's intermediate sums (over layers, in layer
/// order), and per sequence the candidates of the node table and of verification with their values in every group.
/// </summary>
internal sealed class ReducedScalars(AttributionPlan plan, int batch)
{
    private readonly Dictionary<(int Family, int? Layer), LayerCandidates[]> _candidates = [];
    private readonly Dictionary<(int Family, AttributionGroup Group), Tensor> _sums = [];
    private readonly Dictionary<(int Family, AttributionGroup Group, int? Layer), Tensor> _dense = [];

    /// <summary>
    /// Takes the scalars of one family at one layer (<c>[B, ...node shape]</c> per computed group, in the caller's dispose
    /// scope): adds them to the sums, keeps them whole with <c>dense</c>, and keeps each sequence's candidates.
    /// </summary>
    public void Add(int family, int? layer, IReadOnlyDictionary<AttributionGroup, Tensor> values)
    {
        foreach (var group in plan.Groups)
        {
            var perLayer = values[group].sum(-1); // [B, T] or [B, q, k]
            if (_sums.TryGetValue((family, group), out var sum)) sum.add_(perLayer);
            else _sums[(family, group)] = perLayer.MoveToOuterDisposeScope();
            // A handle of its own: the value may be a recorded tensor the run releases after this layer.
            if (plan.Spec.Dense) _dense[(family, group, layer)] = values[group].detach().MoveToOuterDisposeScope();
        }
        var candidates = new LayerCandidates[batch];
        for (var b = 0; b < batch; b++) candidates[b] = LayerCandidates.Of(plan, values, b);
        _candidates[(family, layer)] = candidates;
    }

    /// <summary>TDB's intermediate sum of a family in a group: <c>[B, T]</c>, or <c>[B, q, k]</c> for heads.</summary>
    public Tensor Sum(int family, AttributionGroup group) => _sums[(family, group)];

    /// <summary>With <c>dense</c>: the full scalar <c>[B, ...node shape]</c>.</summary>
    public Tensor Dense(int family, AttributionGroup group, int? layer) => _dense[(family, group, layer)];

    /// <summary>Sequence <paramref name="b"/>'s candidates at a family and layer.</summary>
    public LayerCandidates Candidates(int family, int? layer, int b) => _candidates[(family, layer)][b];
}

/// <summary>
/// One sequence's candidates at one family and layer: in each requested group the top and bottom k nodes (TDB's per-layer
/// <c>topk</c>), the n of largest |act × grad| when verifying, and every candidate's value in every computed group.
/// </summary>
internal sealed class LayerCandidates
{
    private readonly Dictionary<long, int> _position;
    private readonly Dictionary<AttributionGroup, float[]> _values;
    private readonly Dictionary<(AttributionGroup Group, bool Largest), long[]> _extremes;

    private LayerCandidates(long[] flats, Dictionary<AttributionGroup, float[]> values, Dictionary<(AttributionGroup, bool), long[]> extremes,
        long[] largestActTimesGrad)
    {
        _position = flats.Select((flat, i) => (flat, i)).ToDictionary(p => p.flat, p => p.i);
        _values = values;
        _extremes = extremes;
        LargestActTimesGrad = largestActTimesGrad;
    }

    /// <summary>Flat indices of the nodes of largest |act × grad|, largest first.</summary>
    public long[] LargestActTimesGrad { get; }

    /// <summary>Flat indices of the top (or bottom) k nodes in <paramref name="group"/>, most extreme first.</summary>
    public long[] Extremes(AttributionGroup group, bool largest) => _extremes[(group, largest)];

    /// <summary>A candidate's value in a computed group.</summary>
    public float Value(AttributionGroup group, long flat) => _values[group][_position[flat]];

    /// <summary>The candidates of sequence <paramref name="b"/> in <paramref name="values"/> (<c>[B, ...]</c> per computed group).</summary>
    public static LayerCandidates Of(AttributionPlan plan, IReadOnlyDictionary<AttributionGroup, Tensor> values, int b)
    {
        using var scope = NewDisposeScope();
        var flat = values.ToDictionary(v => v.Key, v => v.Value[b].reshape(-1));
        var n = flat.First().Value.shape[0];
        var picked = new List<(object Key, Tensor Indices)>();
        var k = (int)Math.Min(plan.Spec.TopK, n);
        if (k > 0)
            foreach (var group in plan.Groups)
                foreach (var largest in new[] { true, false })
                    picked.Add(((group, largest), NodeTable.Extreme(flat[group], k, largest)));
        var verify = (int)Math.Min(plan.Spec.VerifyTopN, n);
        if (verify > 0) picked.Add(("verify", NodeTable.Extreme(flat[AttributionGroup.ActTimesGrad].abs(), verify, largest: true)));
        if (picked.Count == 0) return new([], [], [], []);
        var all = cat(picked.Select(p => p.Indices).ToList(), 0);
        var union = all.cpu().data<long>().ToArray().Distinct().ToArray();
        using var index = tensor(union, device: all.device);
        var gathered = flat.ToDictionary(v => v.Key, v => v.Value.index_select(0, index).cpu().data<float>().ToArray());
        var extremes = new Dictionary<(AttributionGroup, bool), long[]>();
        long[] largestActTimesGrad = [];
        foreach (var (key, indices) in picked)
        {
            var flats = indices.cpu().data<long>().ToArray();
            if (key is (AttributionGroup group, bool largest)) extremes[(group, largest)] = flats;
            else largestActTimesGrad = flats;
        }
        return new(union, gathered, extremes, largestActTimesGrad);
    }
}
