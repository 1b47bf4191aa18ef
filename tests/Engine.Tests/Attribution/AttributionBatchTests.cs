using ReconService.Engine.Attribution;
using ReconService.Models;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>
/// Batches: sequences of equal or different lengths in one request (equal lengths run together, no padding), each
/// result equal to that sequence alone, in request order; the planned tensors are exactly the answer's.
/// </summary>
public sealed class AttributionBatchTests(RandomAttribution random) : IClassFixture<RandomAttribution>
{
    public static TheoryData<string> Batches() => ["3,1,4,1,5,9,2,6|2,7,1,8,2,8,1,8", "3,1,4,1,5,9,2,6|2,7,1|5,3,5,8,9,7,9,3,2,3|0,5,7,7,2,1,5,6"];

    [Theory]
    [MemberData(nameof(Batches))]
    public void EachSequenceOfABatchGetsWhatItWouldGetAlone(string batch)
    {
        using var scope = NewDisposeScope();
        var sequences = batch.Split('|').Select(s => s.Split(',').Select(int.Parse).ToArray()).ToList();
        var spec = RandomAttribution.Spec(null, "mlp_post_act", "resid_delta_attn") with
        {
            Sequences = sequences,
            Batched = true,
            Ablations = [new AttributionAblationSpec(NodeType.AttentionHead, 1, [2, null, 0])],
            VerifyTopN = 3,
        };
        using var together = random.Engine.Compute(spec);
        Assert.True(together.Batched);
        Assert.Equal(sequences.Count, together.Results.Count);
        for (var i = 0; i < sequences.Count; i++)
        {
            using var alone = random.Engine.Compute(spec with { Sequences = [sequences[i]], Batched = false });
            var (a, b) = (together.Results[i], alone.Results[0]);
            Assert.Equal(sequences[i], a.Tokens);
            Assert.Equal(b.Loss!.Value, a.Loss!.Value, 5);
            Assert.Equal(b.UnablatedLoss!.Value, a.UnablatedLoss!.Value, 5);
            var aTensors = a.Tensors().ToDictionary(t => t.Path, t => t.Tensor);
            var bTensors = b.Tensors().ToDictionary(t => t.Path, t => t.Tensor);
            Assert.Equal(bTensors.Keys.Order(), aTensors.Keys.Order());
            foreach (var (path, tensor) in bTensors) TensorAssert.Close(tensor, aTensors[path]);
            Assert.Equal(b.NodeTable.Select(Key), a.NodeTable.Select(Key));
            Assert.Equal(b.Verification!.Select(v => Key(v.Node)), a.Verification!.Select(v => Key(v.Node)));
            for (var v = 0; v < b.Verification!.Count; v++) Assert.Equal(b.Verification[v].ExactChange, a.Verification![v].ExactChange, 5);
        }
    }

    [Fact]
    public void PlannedTensorsAreTheAnswersTensors()
    {
        using var scope = NewDisposeScope();
        var spec = RandomAttribution.Spec(null, "resid_delta_mlp") with
        {
            Sequences = [[1, 2, 3], [4, 5, 6, 7, 8]],
            Batched = true,
        };
        var plan = random.Engine.Plan(spec);
        using var result = random.Engine.Run(plan);
        var actual = result.Results.SelectMany((r, i) => r.Tensors().Select(t => (i, t.Path, Shape: string.Join(",", t.Tensor.shape)))).ToList();
        var planned = plan.Tensors.Select(t => (t.Sequence, t.Path, Shape: string.Join(",", t.Shape))).ToList();
        Assert.Equal(planned.Order(), actual.Order());
        Assert.Equal(actual.Sum(t => t.Shape.Split(',').Aggregate(1L, (x, y) => x * long.Parse(y))), plan.ResponseElements);
        Assert.True(plan.WorkingMemoryBytes > plan.ResponseElements * sizeof(float));
        Assert.All(result.Results, r => Assert.True(r.NodeTable.Count <= plan.MaxNodeTableRows));
    }

    [Fact]
    public void ActivationAndWriteNormAloneNeedNoBackwardPassAndEqualTheFullRequestsValues()
    {
        using var scope = NewDisposeScope();
        var full = RandomAttribution.Spec(null, "resid_delta_attn") with { Loss = null, Trace = new AttributionTraceSpec(NodeType.MlpNeuron, 1, [5, 7]) };
        var partial = full with { Groups = [AttributionGroup.Activation, AttributionGroup.WriteNorm] };
        Assert.False(random.Engine.Plan(partial).NeedsGradient);
        using var a = random.Engine.Compute(full);
        using var b = random.Engine.Compute(partial);
        Assert.Equal(a.Results[0].TracedValue!.Value, b.Results[0].TracedValue!.Value, 6);
        var expected = a.Results[0].Tensors().Where(t => t.Path.Contains("/activation/") || t.Path.Contains("/write_norm/")).ToDictionary(t => t.Path, t => t.Tensor);
        var actual = b.Results[0].Tensors().Where(t => t.Path != "logits").ToDictionary(t => t.Path, t => t.Tensor);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (path, tensor) in expected) TensorAssert.Close(tensor, actual[path]);
        Assert.All(b.Results[0].NodeTable, n => Assert.Equal(["activation", "write_norm"], n.Values.Keys.Order()));
    }

    private static string Key(AttributionNodeRow n) => $"{n.NodeType}/{n.Autoencoder}/{n.LayerIndex}/{string.Join(",", n.TensorIndices)}";
}

/// <summary>The wire answer carries api.md's field names and every tensor under its path.</summary>
public sealed class AttributionWireTests(RandomAttribution random) : IClassFixture<RandomAttribution>
{
    [Fact]
    public void AnswerUsesTheContractsFieldNames()
    {
        using var scope = NewDisposeScope();
        var spec = RandomAttribution.Spec(null, "resid_delta_mlp") with
        {
            Ablations = [new AttributionAblationSpec(NodeType.MlpAutoencoderLatent, 0, [2, null])],
            VerifyTopN = 1,
            TopK = 2,
        };
        using var result = random.Engine.Compute(spec);
        var paths = new List<string>();
        var answer = AttributionWire.ToAnswer(result, (path, tensor) =>
        {
            paths.Add(path);
            return ReconService.Models.Tensors.TensorPayload.FromValues(tensor.shape, tensor.data<float>().ToArray());
        });
        var json = System.Text.Json.JsonSerializer.SerializeToNode(answer, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        })!.AsObject();
        Assert.Equal(["allowSpecial", "logits", "loss", "nodeTable", "prependBos", "scalars", "sums", "tokens", "unablatedLoss", "verification"],
            json.Select(p => p.Key).Order());
        foreach (var node in json["nodeTable"]!.AsArray().Select(n => n!.AsObject()))
        {
            var type = (string)node["nodeType"]!;
            var latentOrError = type.StartsWith("mlp_autoencoder_", StringComparison.Ordinal);
            string[] keys = [.. latentOrError ? ["autoencoder"] : Array.Empty<string>(), .. type == "layer" ? Array.Empty<string>() : ["layerIndex"],
                "nodeType", "tensorIndices", "values"];
            Assert.Equal(keys.Order(), node.Select(p => p.Key).Order());
            Assert.Contains(type, new[] { "layer", "mlp_autoencoder_latent", "mlp_autoencoder_error", "attention_head" });
            Assert.Equal(["act_times_grad", "activation", "direction_write", "write_norm"], node["values"]!.AsObject().Select(p => p.Key).Order());
        }
        Assert.NotNull(json["sums"]!["act_times_grad"]!["online_mlp_autoencoder_act_times_grad"]!["shape"]);
        Assert.NotNull(json["scalars"]!["direction_write"]!["online_residual_mlp_autoencoder_error_write_to_final_residual_grad"]!["0"]);
        var verified = json["verification"]![0]!.AsObject();
        string[] verifiedKeys = [.. ((string)verified["nodeType"]!).StartsWith("mlp_autoencoder_", StringComparison.Ordinal) ? ["autoencoder"] : Array.Empty<string>(),
            .. (string)verified["nodeType"]! == "layer" ? Array.Empty<string>() : ["layerIndex"],
            "ablatedValue", "actTimesGrad", "estimate", "lossChange", "nodeType", "tensorIndices", "values"];
        Assert.Equal(verifiedKeys.Order(), verified.Select(p => p.Key).Order());
        Assert.Equal(result.Results[0].Tensors().Select(t => t.Path).Order(), paths.Order());
    }
}
