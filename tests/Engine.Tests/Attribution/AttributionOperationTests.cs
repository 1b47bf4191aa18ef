using ReconService.Engine.Attribution;
using ReconService.Engine.Operations;
using ReconService.Models;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>
/// Attribution as an engine operation (<see cref="AttributionOperation"/>): planned through the engine like every other
/// (validated, outputs named as the answer names them, working memory), run in the caller's dispose scope, with the
/// same values as the attribution engine alone. Serial: one test reads the process-wide live tensor count.
/// </summary>
[Collection(Serial.Name)]
public sealed class AttributionOperationTests : IDisposable
{
    private readonly ReconstitutionEngine _engine = new(RandomModels.Checkpoint(RandomAttribution.Config, seed: 21),
    [
        RandomModels.Autoencoders("mlp_post_act", AutoencoderInputType.MlpPostAct, RandomAttribution.Config.DFf, 24, RandomAttribution.Config.NLayers, 31),
        RandomModels.Autoencoders("resid_delta_attn", AutoencoderInputType.ResidDeltaAttn, RandomAttribution.Config.DModel, 20,
            RandomAttribution.Config.NLayers, 34, AutoencoderActivation.TopK, k: 4),
    ]);

    public void Dispose() => _engine.Dispose();

    [Fact]
    public void PlannedOutputsAreTheRunsTensorsByNameAndShapeInOrder()
    {
        using var scope = NewDisposeScope();
        var spec = RandomAttribution.Spec(null, "mlp_post_act", "resid_delta_attn");
        var plan = _engine.Plan(new AttributionOperation(spec));
        var result = _engine.Run(plan);
        Assert.Equal(plan.Outputs.Select(o => (o.Name, string.Join(",", o.Shape))), result.Tensors.Select(t => (t.Name, string.Join(",", t.Tensor.shape))));
        Assert.Contains(plan.Outputs, o => o.Name == "logits");
        Assert.Contains(plan.Outputs, o => o.Name == "sums/act_times_grad/online_mlp_autoencoder_act_times_grad");
        Assert.Contains(plan.Outputs, o => o.Name == "scalars/activation/always_one/none");
        Assert.Contains(plan.Outputs, o => o.Name == "scalars/direction_write/online_attention_autoencoder_write_to_final_residual_grad/1");
        Assert.Empty(plan.Inputs);
        Assert.True(plan.WorkingMemoryBytes > plan.OutputElements * sizeof(float));
        Assert.Equal(RandomAttribution.Tokens.Length, ((ITokenOperation)plan.Operation).TokenCount);
    }

    [Fact]
    public void ABatchesTensorsAreNamedUnderResultsAndEqualTheAttributionEnginesOwn()
    {
        using var scope = NewDisposeScope();
        var spec = RandomAttribution.Spec(null, "mlp_post_act") with { Sequences = [[1, 2, 3], [4, 5, 6, 7, 8]], Batched = true };
        var result = _engine.Execute(new AttributionOperation(spec));
        Assert.All(result.Tensors, t => Assert.Matches(@"^results/[01]/(logits|sums/|scalars/)", t.Name));
        using var alone = _engine.Attribution.Compute(spec);
        var expected = alone.Results.SelectMany((r, i) => r.Tensors().Select(t => ($"results/{i}/{t.Path}", t.Tensor))).ToDictionary(t => t.Item1, t => t.Tensor);
        Assert.Equal(expected.Keys.Order(), result.Tensors.Select(t => t.Name).Order());
        foreach (var t in result.Tensors) TensorAssert.Close(expected[t.Name], t.Tensor);
        Assert.Equal(alone.Results[1].Loss!.Value, result.Result.Results[1].Loss!.Value, 6);
        Assert.Equal(8, ((ITokenOperation)new AttributionOperation(spec)).TokenCount);
    }

    [Theory]
    [InlineData("tokens", false, "tokens")]
    [InlineData("prompt", false, "prompt")]
    [InlineData("prompts", true, "prompts[1]")]
    public void PlanningErrorsNameTheFieldTheSequencesCameFrom(string field, bool batched, string expected)
    {
        var spec = RandomAttribution.Spec() with
        {
            Sequences = batched ? [[1, 2], []] : [[]], Batched = batched, TokensField = field,
        };
        var error = Assert.Throws<ReconstitutionException>(() => _engine.Plan(new AttributionOperation(spec)));
        Assert.Equal(expected, error.Field);
    }

    [Fact]
    public void RunningLeavesNoTensorsBehindOnceTheCallersScopeEnds()
    {
        var spec = RandomAttribution.Spec(null, "mlp_post_act") with { VerifyTopN = 2 };
        using (NewDisposeScope()) _engine.Execute(new AttributionOperation(spec)); // first use makes the kept write norms
        var before = Settled();
        for (var i = 0; i < 3; i++)
            using (NewDisposeScope()) _engine.Execute(new AttributionOperation(spec));
        Assert.Equal(before, Settled());
    }

    /// <summary>The live count once unreachable tensors (from earlier tests' garbage) have been finalized.</summary>
    private long Settled()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return _engine.LiveTensorCount;
    }
}
