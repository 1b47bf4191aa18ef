using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Engine.Attribution;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Model;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>The attribution engine over the golden model and autoencoders, shared by the golden attribution tests.</summary>
public sealed class AttributionGoldenEngine : IDisposable
{
    private readonly Transformer? _model;
    private readonly Dictionary<string, AutoencoderSet> _autoencoders = [];

    public AttributionGoldenEngine()
    {
        if (AttributionGolden.Instance is null) return;
        (_model, _autoencoders) = AttributionGolden.LoadEngineParts();
        Engine = new AttributionEngine(_model, _autoencoders);
    }

    internal AttributionEngine? Engine { get; }

    public void Dispose()
    {
        Engine?.Dispose();
        _model?.Dispose();
        foreach (var set in _autoencoders.Values) set.Dispose();
    }
}

/// <summary>
/// Replays every case of <c>&lt;golden&gt;/attribution/cases.json</c> (TDB's activation server: node tables, ablations,
/// traces) through <see cref="AttributionEngine"/> at <c>|a - e| &lt;= 1e-5 + 1e-4 |e|</c> on every value: loss,
/// logits, every derived scalar of every layer (latents and error nodes included), the intermediate sums, and the node
/// table (TDB's nodes with TDB's values; a node TDB chose among equal values may be swapped for an equal one).
/// </summary>
public sealed class AttributionGoldenTests(AttributionGoldenEngine fixture) : IClassFixture<AttributionGoldenEngine>
{
    public static TheoryData<string, string> Cases() => AttributionGolden.CaseIds();

    [Theory]
    [MemberData(nameof(Cases))]
    public void CaseMatchesTdb(string id, string description)
    {
        Assert.NotNull(description);
        if (AttributionGolden.Instance is not { } golden) return; // this golden set has no attribution cases
        var c = golden.Cases[id];
        using var scope = NewDisposeScope();
        using var result = fixture.Engine!.Compute(golden.Spec(c));
        var r = Assert.Single(result.Results);

        Scalar("loss", c["loss"], r.Loss);
        if (c.ContainsKey("unablated_loss")) Scalar("unablated_loss", c["unablated_loss"], r.UnablatedLoss);
        if (c.ContainsKey("activation_value_for_backward_pass")) Scalar("traced value", c["activation_value_for_backward_pass"], r.TracedValue);
        if (c["logits"] is { } logits) Close("logits", golden.Tensors[(string)logits!], r.Logits!);
        foreach (var field in new[] { "dsts", "error_node_dsts" })
            foreach (var (group, byDst) in c[field]?.AsObject() ?? [])
                foreach (var (dst, byLayer) in byDst!.AsObject())
                    foreach (var (layer, name) in byLayer!.AsObject())
                    {
                        Assert.True(r.Scalars![group].ContainsKey(dst), $"no scalar {group}/{dst}; have {string.Join(", ", r.Scalars[group].Keys)}");
                        Close($"{group}/{dst}/{layer}", golden.Tensors[(string)name!], r.Scalars[group][dst][layer]);
                    }
        foreach (var field in new[] { "intermediate_sums", "intermediate_sums_component_sums_for_token_display" })
            foreach (var (group, byDst) in c[field]?.AsObject() ?? [])
                foreach (var (dst, name) in byDst!.AsObject())
                    Close($"sum {group}/{dst}", golden.Tensors[(string)name!], r.Sums[group][dst]);
        if (c["node_table_top_k"] is JsonObject table) NodeTableMatches(table, r);
    }

    /// <summary>
    /// Every node TDB lists is in the table with TDB's value in every group, unless TDB picked it among equal values:
    /// then the table holds another node of the same kind with that value in some group instead. Apart from error nodes
    /// (beyond TDB), the table has as many rows as TDB's.
    /// </summary>
    private static void NodeTableMatches(JsonObject table, AttributionSequenceResult r)
    {
        var nodes = table["node_indices"]!.AsArray().Select(n => n!.AsObject()).ToList();
        var values = table["activations_by_group_id"]!.AsObject().ToDictionary(g => g.Key, g => g.Value!.AsArray().Select(v => (float)v!).ToList());
        var ours = r.NodeTable.ToDictionary(Key);
        var theirs = nodes.Select(Key).ToHashSet();
        for (var i = 0; i < nodes.Count; i++)
        {
            if (ours.TryGetValue(Key(nodes[i]), out var row))
            {
                foreach (var (group, byNode) in values) Near($"node {Key(nodes[i])} {group}", byNode[i], row.Values[group]);
                continue;
            }
            var type = (string)nodes[i]["node_type"]!;
            var swapped = r.NodeTable.Any(o => !theirs.Contains(Key(o)) && Spell(o.NodeType) == type
                && values.Any(g => Math.Abs(o.Values[g.Key] - g.Value[i]) <= 1e-5 + 1e-4 * Math.Abs(g.Value[i])));
            Assert.True(swapped, $"TDB's node {Key(nodes[i])} is missing and no node of equal value replaces it");
        }
        Assert.Equal(nodes.Count, r.NodeTable.Count(o => !Spell(o.NodeType).EndsWith("_error", StringComparison.Ordinal)));
    }

    private static string Key(JsonObject n) =>
        $"{n["node_type"]}/{n["layer_index"]?.ToString() ?? "none"}/{string.Join(",", n["tensor_indices"]!.AsArray().Select(i => (long)i!))}";

    private static string Key(AttributionNodeRow row) =>
        $"{Spell(row.NodeType)}/{row.LayerIndex?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}/{string.Join(",", row.TensorIndices)}";

    private static string Spell(AttributionNodeType t) => JsonSerializer.Serialize(t).Trim('"');

    private static void Scalar(string what, JsonNode? expected, double? actual)
    {
        if (expected is null)
        {
            Assert.True(actual is null, $"{what}: expected none, got {actual}");
            return;
        }
        Assert.True(actual is not null, $"{what}: expected {expected}, got none");
        Near(what, (double)expected, actual!.Value);
    }

    private static void Near(string what, double expected, double actual) =>
        Assert.True(Math.Abs(actual - expected) <= 1e-5 + 1e-4 * Math.Abs(expected), $"{what}: expected {expected}, got {actual}");

    private static void Close(string what, Tensor expected, Tensor actual)
    {
        try
        {
            TensorAssert.Close(expected, actual);
        }
        catch (Exception e) when (e is Xunit.Sdk.XunitException)
        {
            throw new Xunit.Sdk.XunitException($"{what}: {e.Message}");
        }
    }
}
