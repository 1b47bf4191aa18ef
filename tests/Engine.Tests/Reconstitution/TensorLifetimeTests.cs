using ReconService.Engine.Reconstitution;
using ReconService.Models;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Reconstitution;

/// <summary>No tensor outlives its request: the live tensor count is flat across many mixed calls.</summary>
[Collection(Serial.Name)]
public sealed class TensorLifetimeTests : IDisposable
{
    private readonly ReconstitutionEngine _engine = RandomModels.Engine();

    public void Dispose() => _engine.Dispose();

    [Fact]
    public void LiveTensorCountIsUnchangedAfterTwoHundredMixedCalls()
    {
        using var inputs = NewDisposeScope();
        var residual = randn(5, RandomModels.Config.DModel);
        var write = randn(5, RandomModels.Config.DModel);
        var raw = randn(5, RandomModels.Config.DModel);
        var tokens = tensor(new long[] { 1, 2, 3, 4 });
        var specs = DerivativeTests.SpecList(layer: 1);
        void Call(int i)
        {
            var spec = specs[i % specs.Count];
            switch (i % 6)
            {
                case 0: _engine.Activations(residual, spec).Dispose(); break;
                case 1: _engine.Gradient(residual, spec, spec.NodeType == NodeType.AttentionHead ? [4, 2, 1] : [1, 2]).Dispose(); break;
                case 2: _engine.Jvp(residual, spec, write).Dispose(); break;
                case 3: _engine.Logprobs(residual).Dispose(); break;
                case 4: _engine.LatentGradient("resid_delta_attn", raw, 1, 3).Dispose(); break;
                default: _engine.Forward(tokens, ["resid.post_attn", "attn.qk_probs", "logits"]).Dispose(); break;
            }
        }
        Call(0); // warm-up: lazily created state is not a leak
        var before = Settled();
        for (var i = 0; i < 200; i++) Call(i);
        Assert.Equal(before, Settled());
    }

    [Fact]
    public void AForwardPassLeavesOnlyItsCapturesAndLogitsInTheCallersScope()
    {
        using var inputs = NewDisposeScope();
        var tokens = tensor(new long[] { 1, 2, 3, 4 });
        _engine.Forward(tokens, ["resid.post_emb"]).Dispose(); // warm-up
        var before = Settled();
        using (var caller = NewDisposeScope())
        {
            var held = caller.DisposablesCount;
            var result = _engine.Forward(tokens, ["resid.post_emb", "resid.post_mlp", "attn.qk_probs", "logits"]);
            var captures = 1 + 2 * RandomModels.Config.NLayers + 1;
            Assert.Equal(captures + 1, caller.DisposablesCount - held); // the captures and the logits, nothing of the layers
            Assert.Equal(before + captures + 1, Settled());
            Assert.True(caller.Contains(result.Logits));
            Assert.True(caller.Contains(result.Captured["resid.post_mlp"][RandomModels.Config.NLayers - 1]));
        }
        Assert.Equal(before, Settled());
    }

    [Fact]
    public void AForwardPassOutsideAnyScopeIsFreedByItsResult()
    {
        var tokens = tensor(new long[] { 1, 2, 3, 4 });
        _engine.Forward(tokens, ["resid.post_emb"]).Dispose(); // warm-up
        var before = Settled();
        var result = _engine.Forward(tokens, ["resid.post_attn", "mlp.post_act"]);
        Assert.Equal(before + 2 * RandomModels.Config.NLayers + 1, Settled());
        result.Dispose();
        Assert.Equal(before, Settled());
        tokens.Dispose();
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
