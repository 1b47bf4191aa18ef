using ReconService.Engine.Attribution;
using ReconService.Models;
using ReconService.Models.Wire;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>
/// <c>verifyTopN</c>: each verified node's exact change equals a plain forward pass with that node set to zero
/// (<see cref="DirectReference"/> with an edit; latents and errors edited by their own formulas), its estimate is
/// <c>-act × grad</c>, and the nodes are those of largest |act × grad|.
/// </summary>
public sealed class AttributionVerificationTests(RandomAttribution random) : IClassFixture<RandomAttribution>
{
    [Theory]
    [InlineData("")]
    [InlineData("mlp_post_act,resid_delta_attn")]
    [InlineData("resid_delta_mlp,mlp_post_act_topk")]
    public void VerifiedNodesChangeTheLossAsAForwardWithTheNodeZeroed(string names)
    {
        using var scope = NewDisposeScope();
        var autoencoders = names.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var spec = RandomAttribution.Spec(null, autoencoders) with { VerifyTopN = 30 };
        using var result = random.Engine.Compute(spec);
        var r = result.Results[0];
        var loss = RandomAttribution.Loss(spec.Loss!);
        var baseline = new DirectReference(random.Model, RandomAttribution.Tokens, loss).Loss.item<float>();
        var verified = r.Verification!;
        Assert.Equal(30, verified.Count);
        var largest = r.Scalars!["act_times_grad"].Values.SelectMany(byLayer => byLayer.Values).Max(t => t.abs().max().item<float>());
        Assert.Equal(largest, Math.Abs(verified[0].ActTimesGrad), 5);
        Assert.True(verified.Zip(verified.Skip(1)).All(p => Math.Abs(p.First.ActTimesGrad) >= Math.Abs(p.Second.ActTimesGrad)));
        foreach (var row in verified)
        {
            Assert.Equal(-row.ActTimesGrad, row.EstimatedChange);
            Assert.Equal(row.Node.Values["act_times_grad"], (float)row.ActTimesGrad);
            var zeroed = new DirectReference(random.Model, RandomAttribution.Tokens, loss, edit: Zero(row.Node), gradients: false).Loss.item<float>();
            Assert.True(Math.Abs(row.ExactChange - (zeroed - baseline)) <= 2e-5 + 1e-4 * Math.Abs(baseline),
                $"{row.Node.NodeType} {row.Node.Autoencoder} {row.Node.LayerIndex} [{string.Join(", ", row.Node.TensorIndices)}]: " +
                $"exact change {row.ExactChange}, direct {zeroed - baseline}");
            Assert.Equal(row.AblatedValue - r.Loss!.Value, row.ExactChange, 5);
        }
        var kinds = verified.Select(v => v.Node.NodeType).ToHashSet();
        if (autoencoders.Length == 0)
            Assert.Superset(new HashSet<AttributionNodeType> { AttributionNodeType.Layer, AttributionNodeType.MlpNeuron, AttributionNodeType.AttentionHead }, kinds);
        else Assert.Contains(kinds, k => k is AttributionNodeType.MlpAutoencoderError or AttributionNodeType.AttentionAutoencoderError);
    }

    [Fact]
    public void VerifiedNodesOfATraceChangeTheTracedValueAsAForwardWithTheNodeZeroed()
    {
        using var scope = NewDisposeScope();
        var spec = RandomAttribution.Spec() with
        {
            Loss = null,
            Trace = new AttributionTraceSpec(NodeType.MlpNeuron, 1, [8, 11]),
            VerifyTopN = 25,
        };
        using var result = random.Engine.Compute(spec);
        var r = result.Results[0];
        double Traced(Func<string, Tensor, Tensor>? edit) =>
            new DirectReference(random.Model, RandomAttribution.Tokens, l => l.sum(), edit: edit, gradients: false).Activations["resid.torso.mlp.pre_act.1"][0, 8, 11].item<float>();
        Assert.Equal(Traced(null), r.TracedValue!.Value, 4);
        foreach (var row in r.Verification!)
        {
            var direct = Traced(Zero(row.Node)) - r.TracedValue!.Value;
            Assert.True(Math.Abs(row.ExactChange - direct) <= 2e-5 + 1e-4 * Math.Abs(r.TracedValue.Value), $"exact change {row.ExactChange}, direct {direct}");
            // Nothing at or after the traced neuron's MLP reaches it.
            if (row.Node.LayerIndex == 1) Assert.NotEqual(AttributionNodeType.MlpNeuron, row.Node.NodeType);
        }
    }

    /// <summary>An edit of the plain forward that sets <paramref name="node"/> to zero, written from each node's definition.</summary>
    private Func<string, Tensor, Tensor> Zero(AttributionNodeRow node)
    {
        var i = node.TensorIndices;
        var set = node.Autoencoder is null ? null : random.Sets[node.Autoencoder];
        var location = set?.InputType switch
        {
            AutoencoderInputType.MlpPostAct => "resid.torso.mlp.post_act",
            AutoencoderInputType.ResidDeltaMlp => "resid.torso.delta_mlp",
            AutoencoderInputType.ResidDeltaAttn => "resid.torso.delta_attn",
            _ => node.NodeType == AttributionNodeType.MlpNeuron ? "resid.torso.mlp.post_act" : "resid.torso.attn.qk_probs",
        };
        return (name, x) =>
        {
            if (node.NodeType == AttributionNodeType.Layer ? name != "embedding" : name != $"{location}.{node.LayerIndex}") return x;
            var y = x.clone();
            var ae = set?.Layers[node.LayerIndex!.Value];
            switch (node.NodeType)
            {
                case AttributionNodeType.Layer: y[0, i[0]] = zeros(y.shape[^1]); break;
                case AttributionNodeType.MlpNeuron: y[0, i[0], i[1]] = tensor(0f); break;
                case AttributionNodeType.AttentionHead: y[0, i[0], i[1], i[2]] = tensor(0f); break;
                case AttributionNodeType.MlpAutoencoderLatent or AttributionNodeType.AttentionAutoencoderLatent:
                    var z = ae!.Encode(x[0, i[0]]).Value[i[1]];
                    y[0, i[0]] = x[0, i[0]] - z * ae.DecoderWeight[TensorIndex.Colon, i[1]];
                    break;
                default:
                    var error = x[0] - (ae!.Encode(x[0]).Value.matmul(ae.DecoderWeight.t()) + ae.PreBias);
                    if (set!.InputType == AutoencoderInputType.MlpPostAct) y[0, i[0], i[1]] = x[0, i[0], i[1]] - error[i[0], i[1]];
                    else y[0, i[0]] = x[0, i[0]] - error[i[0]];
                    break;
            }
            return y;
        };
    }
}
