using ReconService.Engine.Attribution;
using ReconService.Models;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>
/// Attribution on a random model against <see cref="DirectReference"/> (plain autograd and textbook formulas), and
/// act × grad against finite differences of the loss: every node kind, every loss, every autoencoder family spliced at
/// once.
/// </summary>
public sealed class AttributionDirectTests(RandomAttribution random) : IClassFixture<RandomAttribution>
{
    private static readonly string[] Groups = ["activation", "act_times_grad", "write_norm", "direction_write"];

    [Theory]
    [InlineData(AttributionLossName.LogitDiff)]
    [InlineData(AttributionLossName.Probs)]
    [InlineData(AttributionLossName.Logprob)]
    public void NeuronHeadAndEmbeddingScalarsMatchADirectComputation(AttributionLossName name)
    {
        using var scope = NewDisposeScope();
        var loss = new AttributionLossSpec(name, [3], name == AttributionLossName.LogitDiff ? [7, 2] : [], Position: -2);
        using var result = random.Engine.Compute(RandomAttribution.Spec() with { Loss = loss });
        var r = result.Results[0];
        var direct = new DirectReference(random.Model, RandomAttribution.Tokens, RandomAttribution.Loss(loss));
        Near(direct.Loss.item<float>(), r.Loss!.Value);
        TensorAssert.Close(direct.Logits[0].detach(), r.Logits!);
        Same(r, "always_one", "token_attribution", "resid_post_embedding_norm", "resid_post_embedding_proj_to_final_residual_grad", "none",
            direct.EmbeddingScalars());
        for (var l = 0; l < RandomAttribution.Config.NLayers; l++)
        {
            Same(r, "mlp_post_act", "mlp_act_times_grad", "mlp_write_norm", "mlp_write_to_final_residual_grad", $"{l}", direct.NeuronScalars(l));
            Same(r, "attn_qk_probs", "unflattened_attn_act_times_grad", "unflattened_attn_write_norm",
                "unflattened_attn_write_to_final_residual_grad", $"{l}", direct.HeadScalars(l));
        }
    }

    [Fact]
    public void EveryAutoencoderFamilySplicedAtOnceHasLatentAndErrorScalarsMatchingADirectComputation()
    {
        using var scope = NewDisposeScope();
        string[] names = ["mlp_post_act", "mlp_post_act_topk", "resid_delta_mlp", "resid_delta_attn"];
        using var result = random.Engine.Compute(RandomAttribution.Spec(null, names));
        var r = result.Results[0];
        var direct = new DirectReference(random.Model, RandomAttribution.Tokens, RandomAttribution.Loss(RandomAttribution.Spec().Loss!));
        Near(direct.Loss.item<float>(), r.Loss!.Value);
        foreach (var name in names)
        {
            var set = random.Sets[name];
            // Three families share the MLP latent node type, so their scalar names carry ":name"; the attention one does not.
            var (infix, suffix) = set.InputType == AutoencoderInputType.ResidDeltaAttn ? ("attention_", "") : ("mlp_", ":" + name);
            var errorInfix = set.InputType == AutoencoderInputType.MlpPostAct ? infix : "residual_" + infix;
            for (var l = 0; l < RandomAttribution.Config.NLayers; l++)
            {
                Same(r, $"online_{infix}autoencoder_latent{suffix}", $"online_{infix}autoencoder_act_times_grad{suffix}",
                    $"online_{infix}autoencoder_write_norm{suffix}", $"online_{infix}autoencoder_write_to_final_residual_grad{suffix}", $"{l}",
                    direct.LatentScalars(set, l));
                Same(r, $"online_{errorInfix}autoencoder_error{suffix}", $"online_{errorInfix}autoencoder_error_act_times_grad{suffix}",
                    $"online_{errorInfix}autoencoder_error_write_norm{suffix}",
                    $"online_{errorInfix}autoencoder_error_write_to_final_residual_grad{suffix}", $"{l}", direct.ErrorScalars(set, l));
            }
        }
        Assert.DoesNotContain("mlp_post_act", r.Scalars!["activation"].Keys);
        Assert.DoesNotContain("attn_qk_probs", r.Scalars!["activation"].Keys);
        Assert.Contains(r.NodeTable, n => n.NodeType == AttributionNodeType.MlpAutoencoderError && n.Autoencoder == "resid_delta_mlp"
            && n.TensorIndices[1] == 0);
        Assert.Contains(r.NodeTable, n => n.NodeType == AttributionNodeType.AttentionAutoencoderLatent && n.Autoencoder == "resid_delta_attn");
    }

    [Theory]
    [InlineData(NodeType.MlpNeuron, 0, new long[] { 6, 5 })]
    [InlineData(NodeType.MlpNeuron, 1, new long[] { 9, 11 })]
    [InlineData(NodeType.AttentionHead, 0, new long[] { 8, 3, 1 })]
    [InlineData(NodeType.AttentionHead, 1, new long[] { 9, 9, 0 })]
    [InlineData(NodeType.MlpAutoencoderLatent, 0, new long[] { 7, -1 })]
    [InlineData(NodeType.AttentionAutoencoderLatent, 1, new long[] { 8, -1 })]
    public void ActTimesGradMatchesFiniteDifferencesOfTheLoss(NodeType nodeType, int layer, long[] at)
    {
        using var scope = NewDisposeScope();
        string[] autoencoders = nodeType == NodeType.MlpAutoencoderLatent ? ["mlp_post_act"]
            : nodeType == NodeType.AttentionAutoencoderLatent ? ["resid_delta_attn"] : [];
        // The true gradient: TDB's detached final layer-norm scale would make act x grad differ from finite differences.
        var spec = RandomAttribution.Spec(null, autoencoders) with { DetachLayerNormScale = false };
        using var result = random.Engine.Compute(spec);
        var r = result.Results[0];
        var (activationName, atgName) = nodeType switch
        {
            NodeType.MlpNeuron => ("mlp_post_act", "mlp_act_times_grad"),
            NodeType.AttentionHead => ("attn_qk_probs", "unflattened_attn_act_times_grad"),
            NodeType.MlpAutoencoderLatent => ("online_mlp_autoencoder_latent", "online_mlp_autoencoder_act_times_grad"),
            _ => ("online_attention_autoencoder_latent", "online_attention_autoencoder_act_times_grad"),
        };
        var activations = r.Scalars!["activation"][activationName][$"{layer}"];
        if (at[^1] < 0) at[^1] = activations[at[0]].argmax().item<long>(); // an active latent
        var index = at.Select(i => TensorIndex.Single(i)).ToArray();
        var a = activations[index].item<float>();
        var actTimesGrad = r.Scalars["act_times_grad"][atgName][$"{layer}"][index].item<float>();
        // Set the node to a +- h through an ablation, the loss's central difference times a is act x grad.
        var h = 1e-2 * Math.Max(Math.Abs(a), 0.1);
        double LossAt(double value) => random.Engine.Compute(spec with
        {
            Dense = false, TopK = 0,
            Ablations = [new AttributionAblationSpec(nodeType, layer, [.. at.Select(i => (long?)i)], value)],
        }).Results[0].Loss!.Value;
        var finiteDifference = a * (LossAt(a + h) - LossAt(a - h)) / (2 * h);
        Assert.True(Math.Abs(a) > 1e-3, $"node {string.Join(",", at)} is inactive ({a})");
        Assert.True(Math.Abs(finiteDifference - actTimesGrad) <= 2e-3 * (Math.Abs(actTimesGrad) + 0.05),
            $"act x grad {actTimesGrad}, finite difference {finiteDifference}");
    }

    /// <summary>The four scalars of one family and layer equal the direct ones <c>[T, ...]</c>.</summary>
    private static void Same(AttributionSequenceResult r, string activation, string actTimesGrad, string writeNorm, string direction, string layer,
        Tensor[] expected)
    {
        string[] dsts = [activation, actTimesGrad, writeNorm, direction];
        for (var i = 0; i < 4; i++)
        {
            Assert.True(r.Scalars![Groups[i]].ContainsKey(dsts[i]), $"no {Groups[i]}/{dsts[i]}; have {string.Join(", ", r.Scalars[Groups[i]].Keys)}");
            try
            {
                TensorAssert.Close(expected[i].detach(), r.Scalars[Groups[i]][dsts[i]][layer]);
            }
            catch (Xunit.Sdk.XunitException e)
            {
                throw new Xunit.Sdk.XunitException($"{Groups[i]}/{dsts[i]}/{layer}: {e.Message}");
            }
        }
    }

    private static void Near(double expected, double actual) =>
        Assert.True(Math.Abs(actual - expected) <= 1e-5 + 1e-4 * Math.Abs(expected), $"expected {expected}, got {actual}");
}
