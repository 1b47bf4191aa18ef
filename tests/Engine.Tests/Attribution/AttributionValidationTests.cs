using System.Text.Json;
using ReconService.Engine.Attribution;
using ReconService.Models;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>
/// Requests the engine cannot serve are refused by <see cref="AttributionEngine.Plan"/> before any tensor work, with
/// the field at fault; the wire records read TDB's <c>"All"</c> and both shapes of <c>tokens</c>, and refuse unknown keys.
/// </summary>
public sealed class AttributionValidationTests(RandomAttribution random) : IClassFixture<RandomAttribution>
{
    private static readonly AttributionSpec Valid = RandomAttribution.Spec();

    public static TheoryData<string, string> Refusals() => new()
    {
        { "tokens", "no tokens" }, { "tokens[3]", "token out of vocabulary" }, { "tokens", "too long" },
        { "loss", "neither loss nor trace" }, { "loss.targetTokens", "no targets" }, { "loss.distractorTokens", "probs with distractors" },
        { "loss.position", "position past the end" }, { "loss", "loss with a QK trace" }, { "loss", "V trace without loss" },
        { "trace.attentionTraceType", "head without trace type" }, { "trace.tensorIndices", "masked pair" },
        { "trace.tensorIndices[1]", "neuron out of range" }, { "trace.nodeType", "latent without a spliced autoencoder" },
        { "autoencoders[0]", "unknown autoencoder" }, { "autoencoders[1]", "autoencoder twice" },
        { "ablations[1].tensorIndices", "three indices for a neuron" }, { "ablations[0].tensorIndices[0]", "token past the shortest sequence" },
        { "ablations[0].autoencoder", "several families serve" }, { "ablations[0].value", "NaN value" }, { "ablations[0].layerIndex", "layer out of range" },
        { "ablations[0].tensorIndices", "masked pair ablated" },
        { "groups", "group twice" }, { "topK", "negative topK" }, { "verifyTopN", "too many verified nodes" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void PlanRefusesWithTheFieldAtFault(string field, string what)
    {
        var neuron = new AttributionAblationSpec(NodeType.MlpNeuron, 0, [1, 2]);
        var spec = what switch
        {
            "no tokens" => Valid with { Sequences = [] },
            "token out of vocabulary" => Valid with { Sequences = [[1, 2, 3, 11]] },
            "too long" => Valid with { Sequences = [Enumerable.Repeat(1, RandomAttribution.Config.NCtx + 1).ToArray()] },
            "neither loss nor trace" => Valid with { Loss = null },
            "no targets" => Valid with { Loss = Valid.Loss! with { TargetTokens = [] } },
            "probs with distractors" => Valid with { Loss = Valid.Loss! with { Name = AttributionLossName.Probs } },
            "position past the end" => Valid with { Loss = Valid.Loss! with { Position = RandomAttribution.Tokens.Length } },
            "loss with a QK trace" => Valid with { Trace = new(NodeType.AttentionHead, 1, [3, 2, 0], AttributionTraceType.QK) },
            "V trace without loss" => Valid with { Loss = null, Trace = new(NodeType.AttentionHead, 1, [3, 2, 0], AttributionTraceType.V) },
            "head without trace type" => Valid with { Loss = null, Trace = new(NodeType.AttentionHead, 1, [3, 2, 0]) },
            "masked pair" => Valid with { Loss = null, Trace = new(NodeType.AttentionHead, 1, [2, 3, 0], AttributionTraceType.K) },
            "neuron out of range" => Valid with { Loss = null, Trace = new(NodeType.MlpNeuron, 1, [2, RandomAttribution.Config.DFf]) },
            "latent without a spliced autoencoder" => Valid with { Loss = null, Trace = new(NodeType.MlpAutoencoderLatent, 1, [2, 3]) },
            "unknown autoencoder" => Valid with { Autoencoders = ["nope"] },
            "autoencoder twice" => Valid with { Autoencoders = ["resid_delta_mlp", "resid_delta_mlp"] },
            "three indices for a neuron" => Valid with { Ablations = [neuron, neuron with { TensorIndices = [1, 2, 3] }] },
            "token past the shortest sequence" => Valid with { Sequences = [[1, 2, 3, 4], [1, 2]], Batched = true, Ablations = [neuron with { TensorIndices = [3, null] }] },
            "several families serve" => Valid with
            {
                Autoencoders = ["mlp_post_act", "resid_delta_mlp"],
                Ablations = [new AttributionAblationSpec(NodeType.MlpAutoencoderLatent, 0, [1, 2])],
            },
            "NaN value" => Valid with { Ablations = [neuron with { Value = double.NaN }] },
            "layer out of range" => Valid with { Ablations = [neuron with { LayerIndex = RandomAttribution.Config.NLayers }] },
            "masked pair ablated" => Valid with { Ablations = [new AttributionAblationSpec(NodeType.AttentionHead, 1, [1, 2, 0], Value: 5)] },
            "group twice" => Valid with { Groups = [AttributionGroup.Activation, AttributionGroup.Activation] },
            "negative topK" => Valid with { TopK = -1 },
            _ => Valid with { VerifyTopN = 100_000 },
        };
        var e = Assert.Throws<ReconstitutionException>(() => random.Engine.Plan(spec));
        Assert.Equal(field, e.Field);
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    [Fact]
    public void WireRequestReadsTokensAsAListOrAListOfListsAndTdbsAll()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        var one = JsonSerializer.Deserialize<AttributionRequest>("""
            {"tokens": [464, 3139], "loss": {"name": "logit_diff", "targetTokens": [318], "distractorTokens": [257]},
             "ablations": [{"nodeType": "attention_head", "layerIndex": 1, "tensorIndices": [4, "All", 0]}],
             "groups": ["act_times_grad"], "topK": 3}
            """, options)!;
        Assert.False(one.Tokens!.Batched);
        Assert.Equal([464, 3139], one.Tokens.Sequences[0]);
        Assert.Equal([new AllOrIndex(4), AllOrIndex.All, new AllOrIndex(0)], one.Ablations![0].TensorIndices);
        var spec = AttributionSpec.FromWire(one, [.. one.Tokens.Sequences], one.Tokens.Batched);
        Assert.Equal([4L, null, 0L], spec.Ablations[0].TensorIndices);
        Assert.Equal(-1, spec.Loss!.Position);
        Assert.Equal([AttributionGroup.ActTimesGrad], spec.Groups);

        var batch = JsonSerializer.Deserialize<AttributionRequest>("""{"tokens": [[1, 2, 3], [4]], "trace": {"nodeType": "attention_head", "layerIndex": 0, "tensorIndices": [1, 0, 1], "attentionTraceType": "V"}}""", options)!;
        Assert.True(batch.Tokens!.Batched);
        Assert.Equal(2, batch.Tokens.Sequences.Count);
        Assert.Equal(AttributionTraceType.V, batch.Trace!.AttentionTraceType);
        Assert.Equal("""[[1,2,3],[4]]""", JsonSerializer.Serialize(batch.Tokens));

        foreach (var bad in new[]
                 {
                     """{"tokens": [1, "2"]}""", """{"tokens": [[1], 2]}""", """{"tokens": 3}""", """{"tokens": [1], "unknown": 1}""",
                     """{"tokens": [1], "ablations": [{"nodeType": "mlp_neuron", "layerIndex": 0, "tensorIndices": [0, "all"]}]}""",
                     """{"tokens": [1], "groups": ["write-norm"]}""",
                 })
            Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<AttributionRequest>(bad, options));
    }
}

/// <summary>No tensor outlives an attribution: the live tensor count is flat across runs (serial: it is process-wide).</summary>
[Collection(Serial.Name)]
public sealed class AttributionLifetimeTests : IDisposable
{
    private readonly RandomAttribution _random = new();

    public void Dispose() => _random.Dispose();

    [Fact]
    public void RunsLeaveNoLiveTensorsBehind()
    {
        var spec = RandomAttribution.Spec(null, "mlp_post_act", "resid_delta_attn") with
        {
            Ablations = [new AttributionAblationSpec(NodeType.MlpAutoencoderLatent, 1, [1, 3])],
            VerifyTopN = 2,
        };
        var batch = spec with { Sequences = [[1, 2, 3], [4, 5, 6], [7, 8]], Batched = true, Dense = false };
        _random.Engine.Compute(spec).Dispose(); // warm-up: the engine's cached write norms are not a leak
        var before = Settled();
        for (var i = 0; i < 4; i++) _random.Engine.Compute(i % 2 == 0 ? spec : batch).Dispose();
        Assert.Equal(before, Settled());
    }

    /// <summary>The live count once unreachable tensors (from earlier tests' garbage) have been finalized.</summary>
    private static long Settled()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Tensor.TotalCount;
    }
}

/// <summary>The node table's block-wise top-k finds what a plain top-k finds.</summary>
public sealed class NodeTableExtremeTests
{
    [Theory]
    [InlineData(100, 10)]
    [InlineData(100_003, 20)]
    [InlineData(65_536, 1)]
    [InlineData(300_000, 250)]
    public void BlockwiseTopKEqualsAPlainTopK(int n, int k)
    {
        using var scope = NewDisposeScope();
        var x = randn(n) * 3;
        x[TensorIndex.Slice(0, n / 3)] = tensor(0f); // ties, as masked attention pairs give
        foreach (var largest in new[] { true, false })
        {
            var expected = x.topk(k, largest: largest).values;
            var actual = x.index_select(0, NodeTable.Extreme(x, k, largest));
            Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
        }
    }
}
