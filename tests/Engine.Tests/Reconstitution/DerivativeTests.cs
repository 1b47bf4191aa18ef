using ReconService.Engine.Reconstitution;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Reconstitution;

/// <summary>
/// Checks that don't need the reference: forward-mode JVPs against two reverse passes, gradients against JVPs,
/// batches against single sequences, and flat tensor counts.
/// </summary>
public sealed class DerivativeTests : IDisposable
{
    private readonly ReconstitutionEngine _engine = RandomModels.Engine();
    private readonly DisposeScope _scope = NewDisposeScope();

    public void Dispose()
    {
        _scope.Dispose();
        _engine.Dispose();
    }

    public static TheoryData<NodeType, PreOrPostAct, AttentionTraceType?, string?, bool> Specs()
    {
        var data = new TheoryData<NodeType, PreOrPostAct, AttentionTraceType?, string?, bool>();
        foreach (var detach in new[] { true, false })
            foreach (var act in new[] { PreOrPostAct.Pre, PreOrPostAct.Post })
            {
                foreach (var trace in new[] { AttentionTraceType.QK, AttentionTraceType.Q, AttentionTraceType.K })
                    data.Add(NodeType.AttentionHead, act, trace, null, detach);
                data.Add(NodeType.MlpNeuron, act, null, null, detach);
                data.Add(NodeType.MlpAutoencoderLatent, act, null, "mlp_post_act", detach);
                data.Add(NodeType.MlpAutoencoderLatent, act, null, "resid_delta_mlp", detach);
                data.Add(NodeType.AttentionAutoencoderLatent, act, null, "resid_delta_attn", detach);
            }
        return data;
    }

    /// <summary>Every row of <see cref="Specs"/> as a spec at <paramref name="layer"/>.</summary>
    internal static IReadOnlyList<ActivationSpec> SpecList(int layer) =>
        Specs().Select(row => new ActivationSpec((NodeType)row[0], layer, (PreOrPostAct)row[1],
            (AttentionTraceType?)row[2], (bool)row[4], (string?)row[3])).ToList();

    [Theory]
    [MemberData(nameof(Specs))]
    public void ForwardModeJvpMatchesDoubleBackward(NodeType nodeType, PreOrPostAct act, AttentionTraceType? trace, string? autoencoder, bool detach)
    {
        var spec = new ActivationSpec(nodeType, 1, act, trace, detach, autoencoder);
        var residual = randn(6, RandomModels.Config.DModel, generator: new Generator(3));
        var write = randn(6, RandomModels.Config.DModel, generator: new Generator(4));

        var jvp = _engine.Jvp(residual, spec, write);
        var expected = DoubleBackwardJvp(residual, write, spec);

        TensorAssert.Close(expected, jvp);
        Assert.True(jvp.abs().sum().item<float>() > 0, "the JVP should not vanish everywhere");
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void GradientDotWriteVectorEqualsJvpEntry(NodeType nodeType, PreOrPostAct act, AttentionTraceType? trace, string? autoencoder, bool detach)
    {
        var spec = new ActivationSpec(nodeType, 0, act, trace, detach, autoencoder);
        var residual = randn(5, RandomModels.Config.DModel, generator: new Generator(5));
        var write = randn(5, RandomModels.Config.DModel, generator: new Generator(6));
        var activation = _engine.Activations(residual, spec);
        // pick the largest finite activation so ReLU and TopK latents are active there
        var flat = activation.nan_to_num(neginf: -1e30).flatten().argmax().item<long>();
        var indices = Unravel(flat, activation.shape);

        var gradient = _engine.Gradient(residual, spec, indices);
        var jvp = _engine.Jvp(residual, spec, write);

        var viaGradient = (gradient * write).sum().item<float>();
        var viaJvp = jvp[[.. indices.Select(i => TensorIndex.Single(i))]].item<float>();
        Assert.Equal(viaJvp, viaGradient, 1e-3f * Math.Max(1, Math.Abs(viaJvp)));
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void BatchedResidualsGiveTheSameResultPerSequence(NodeType nodeType, PreOrPostAct act, AttentionTraceType? trace, string? autoencoder, bool detach)
    {
        var spec = new ActivationSpec(nodeType, 1, act, trace, detach, autoencoder);
        var batch = randn(3, 4, RandomModels.Config.DModel, generator: new Generator(8));
        var write = randn(3, 4, RandomModels.Config.DModel, generator: new Generator(9));
        long[] indices = nodeType == NodeType.AttentionHead ? [3, 1, 1] : [2, 3];

        var activations = _engine.Activations(batch, spec);
        var gradients = _engine.Gradient(batch, spec, indices);
        var jvps = _engine.Jvp(batch, spec, write);

        for (var b = 0; b < 3; b++)
        {
            TensorAssert.Close(_engine.Activations(batch[b], spec), activations[b]);
            TensorAssert.Close(_engine.Gradient(batch[b], spec, indices), gradients[b]);
            TensorAssert.Close(_engine.Jvp(batch[b], spec, write[b]), jvps[b]);
        }
    }

    [Fact]
    public void GradientWorksWhenTheCallersThreadHasGradDisabled()
    {
        var spec = new ActivationSpec(NodeType.MlpNeuron, 0, PreOrPostAct.Post);
        var residual = randn(4, RandomModels.Config.DModel, generator: new Generator(2));
        var expected = _engine.Gradient(residual, spec, [3, 5]);
        using (no_grad())
        {
            TensorAssert.Close(expected, _engine.Gradient(residual, spec, [3, 5]));
        }
        Assert.True(expected.abs().sum().item<float>() > 0);
    }

    private Tensor DoubleBackwardJvp(Tensor residual, Tensor write, ActivationSpec spec)
    {
        // y = f(x); g = d<y, u>/dx (a function of a dummy u); J v = d<g, v>/du
        using var _ = enable_grad();
        var reconstituter = (Reconstituter)typeof(ReconstitutionEngine).GetField("_reconstituter",
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(_engine)!;
        var validator = (RequestValidator)typeof(ReconstitutionEngine).GetField("_validate",
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(_engine)!;
        var x = residual.unsqueeze(0).detach().requires_grad_(true);
        var y = reconstituter.Activation(x, validator.Spec(spec)).Value;
        var finite = y.isfinite();
        var u = zeros_like(y).requires_grad_(true);
        var g = autograd.grad([y], [x], [u], create_graph: true)[0];
        var jv = autograd.grad([g], [u], [write.unsqueeze(0)], allow_unused: true)[0] ?? zeros_like(y);
        return jv.where(finite, 0).squeeze(0);
    }

    private static long[] Unravel(long flat, long[] shape)
    {
        var indices = new long[shape.Length];
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            indices[i] = flat % shape[i];
            flat /= shape[i];
        }
        return indices;
    }
}
