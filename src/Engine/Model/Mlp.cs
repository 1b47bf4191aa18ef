using ReconService.Engine.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Model;

/// <summary>
/// GPT-2's MLP as TDB's <c>MLP</c>: <c>pre_act = x W_in + b_in</c> <c>[batch, tokens, d_ff]</c>,
/// <c>post_act = gelu(pre_act)</c> (GPT-2's tanh form, or the exact erf form when the checkpoint says so), output
/// <c>post_act W_out + b_out</c> <c>[batch, tokens, d_model]</c>.
/// Hook locations <c>resid.torso.mlp.pre_act</c> and <c>resid.torso.mlp.post_act</c>.
/// </summary>
public sealed class Mlp : nn.Module
{
#pragma warning disable IDE1006 // fields are named after checkpoint keys
    private readonly Affine in_layer, out_layer;
#pragma warning restore IDE1006
    private readonly MlpActivation _activation;

    /// <summary>Creates the MLP from <c>mlp.in_layer</c> (<c>[d_ff, d_model]</c>) and <c>mlp.out_layer</c> (<c>[d_model, d_ff]</c>).</summary>
    public Mlp(string name, IReadOnlyDictionary<string, Tensor> p, string key, MlpActivation activation = MlpActivation.GeluTanh) : base(name)
    {
        in_layer = new Affine(p, key + ".in_layer");
        out_layer = new Affine(p, key + ".out_layer");
        _activation = activation;
        RegisterComponents();
    }

    /// <summary><c>mlp.pre_act</c> <c>[batch, tokens, d_ff]</c> from the normalised input.</summary>
    public Dual PreAct(Dual x, HookTree hooks, int layer) => hooks.Run("resid.torso.mlp.pre_act", in_layer.Forward(x), layer);

    /// <summary><c>mlp.post_act</c> <c>[batch, tokens, d_ff]</c> from <c>mlp.pre_act</c>.</summary>
    public Dual PostAct(Dual preAct, HookTree hooks, int layer) =>
        hooks.Run("resid.torso.mlp.post_act", _activation == MlpActivation.GeluErf ? preAct.GeluErf() : preAct.GeluTanh(), layer);

    /// <summary>The block output before its hook, <c>[batch, tokens, d_model]</c>, from <c>mlp.post_act</c>.</summary>
    public Dual Output(Dual postAct) => out_layer.Forward(postAct);
}
