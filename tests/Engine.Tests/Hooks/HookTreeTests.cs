using ReconService.Engine.Hooks;
using ReconService.Engine.Model;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Hooks;

/// <summary>The hook tree: paths, stages, layer binding, and that requests never touch the weights.</summary>
public sealed class HookTreeTests : IDisposable
{
    private readonly ReconstitutionEngine _engine = RandomModels.Engine(seed: 21);
    private readonly DisposeScope _scope = NewDisposeScope();

    public void Dispose()
    {
        _scope.Dispose();
        _engine.Dispose();
    }

    [Fact]
    public void ForwardHookBoundToOneLayerSeesOnlyThatLayer()
    {
        var tokens = tensor(new long[] { 1, 4, 2, 7, 3 }).unsqueeze(0);
        var seen = new List<(int? Layer, Tensor Value)>();
        var hooks = new HookTree().Append("resid.torso.mlp.post_act.fwd", (x, context) =>
        {
            seen.Add((context.Layer, x.Value));
            return x;
        }, layers: [1]);

        _engine.Model.Forward(tokens, hooks);
        using var reference = _engine.Forward(tokens.squeeze(0), [ActivationLocations.MlpPostAct]);

        var (layer, value) = Assert.Single(seen);
        Assert.Equal(1, layer);
        TensorAssert.Close(reference.Captured[ActivationLocations.MlpPostAct][1], value.squeeze(0));
    }

    [Fact]
    public void ForwardHookCanEditTheValueThatFlowsOn()
    {
        var tokens = tensor(new long[] { 1, 4, 2 }).unsqueeze(0);
        var zeroed = new HookTree().Append("resid.torso.delta_mlp.fwd", (x, _) => x * 0.0);
        var observed = new List<Tensor>();
        zeroed.Append("resid.torso.post_mlp.fwd", (x, context) => { observed.Add(x.Value); return x; }, layers: [0]);
        var postAttn = new List<Tensor>();
        zeroed.Append("resid.torso.post_attn.fwd", (x, context) => { postAttn.Add(x.Value); return x; }, layers: [0]);

        _engine.Model.Forward(tokens, zeroed);

        // with the MLP's write zeroed, resid.post_mlp equals resid.post_attn
        TensorAssert.Close(Assert.Single(postAttn), Assert.Single(observed));
    }

    [Fact]
    public void BackwardHookReceivesTheGradientAtItsLocation()
    {
        var residual = randn(5, RandomModels.Config.DModel, generator: new Generator(11));
        var spec = new ActivationSpec(NodeType.MlpNeuron, 1, PreOrPostAct.Post);
        Tensor? received = null;
        HookContext? where = null;
        var hooks = new HookTree().AppendBackward("resid.torso.mlp.pre_act.bwd", (gradient, context) =>
        {
            received = gradient.detach().clone().DetachFromDisposeScope(); // the request's scope disposes its own tensors
            where = context;
        });

        _engine.Gradient(residual, spec, [2, 9], hooks);

        // d post_act[2, 9] / d pre_act is gelu'(pre_act[2, 9]) at [2, 9] and zero elsewhere
        var pre = _engine.Activations(residual, spec with { PreOrPostAct = PreOrPostAct.Pre }).unsqueeze(0);
        var tangent = zeros_like(pre);
        tangent[0, 2, 9] = tensor(1f);
        var geluDerivative = new Dual(pre, tangent).GeluTanh().Tangent!;
        Assert.NotNull(received);
        TensorAssert.Close(geluDerivative, received!);
        Assert.Equal(new HookContext("resid.torso.mlp.pre_act", 1), where);
    }

    [Fact]
    public void SecondForwardStageRunsAfterTheForwardStage()
    {
        var tokens = tensor(new long[] { 3, 1 }).unsqueeze(0);
        var order = new List<string>();
        var hooks = new HookTree()
            .Append("resid.post_emb.fwd2", (x, _) => { order.Add("fwd2"); return x; })
            .Append("resid.post_emb.fwd", (x, _) => { order.Add("fwd"); return x; });

        _engine.Model.Forward(tokens, hooks);

        Assert.Equal(["fwd", "fwd2"], order);
    }

    [Theory]
    [InlineData("resid.torso.attn.nope.fwd")]
    [InlineData("resid.torso.attn.q")]
    [InlineData("resid.torso.attn.q.sideways")]
    public void UnknownHookPathsAreRejected(string path)
    {
        var error = Assert.Throws<ArgumentException>(() => new HookTree().Append(path, StandardHooks.Detach));
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void RequestsNeverChangeTheWeights()
    {
        var before = _engine.Model.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        var residual = randn(4, RandomModels.Config.DModel, generator: new Generator(12));
        foreach (var row in DerivativeSpecs())
        {
            _engine.Activations(residual, row);
            _engine.Gradient(residual, row, row.NodeType == NodeType.AttentionHead ? [3, 1, 0] : [1, 1]);
            _engine.Jvp(residual, row, residual);
        }
        var after = _engine.Model.state_dict();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, value) in before)
        {
            TensorAssert.Identical(value, after[name], name);
            Assert.False(after[name].requires_grad, $"{name} must stay frozen");
        }
    }

    private static IEnumerable<ActivationSpec> DerivativeSpecs() =>
        Reconstitution.DerivativeTests.SpecList(layer: 1);
}
