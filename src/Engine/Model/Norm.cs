using ReconService.Engine.Hooks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ReconService.Engine.Model;

/// <summary>
/// Layer norm as TDB's <c>Norm</c> computes it, always in float32 with hookable steps:
/// <c>c = x - mean(x)</c> (<c>post_mean_subtraction</c>), <c>scale = sqrt(mean(c^2) + eps)</c> (<c>scale</c>),
/// <c>c / scale</c> (<c>post_scale</c>), then <c>* weight + bias</c>. Detaching <c>scale</c> (a hook) makes it a
/// constant for derivatives without changing values.
/// </summary>
public sealed class Norm : nn.Module
{
#pragma warning disable IDE1006 // fields are named after checkpoint keys
    private readonly Parameter weight;
    private readonly Parameter bias;
#pragma warning restore IDE1006
    private readonly double _eps;

    /// <summary>Creates the norm from its checkpoint tensors <c>weight [d_model]</c> and <c>bias [d_model]</c>.</summary>
    public Norm(string name, Tensor weight, Tensor bias, double eps) : base(name)
    {
        this.weight = new Parameter(weight, requires_grad: false);
        this.bias = new Parameter(bias, requires_grad: false);
        _eps = eps;
        RegisterComponents();
    }

    /// <summary>Normalises <paramref name="x"/> <c>[..., d_model]</c> over its last axis.</summary>
    /// <param name="x">Input, float32.</param>
    /// <param name="hooks">Hook tree of the request.</param>
    /// <param name="prefix">Hook location prefix, e.g. <c>resid.torso.ln_attn</c>.</param>
    /// <param name="layer">Layer for hook binding, or null outside layers.</param>
    /// <returns>Normalised values, shaped like <paramref name="x"/>.</returns>
    public Dual Forward(Dual x, HookTree hooks, string prefix, int? layer) => Normalize(x, hooks, prefix, layer) * (Dual)weight + (Dual)bias;

    /// <summary>
    /// <c>c / scale</c> before the weight and bias (hook <c>post_scale</c>; TransformerLens's <c>hook_normalized</c>),
    /// shaped like <paramref name="x"/>.
    /// </summary>
    public Dual Normalize(Dual x, HookTree hooks, string prefix, int? layer)
    {
        var centered = hooks.Run(prefix + ".post_mean_subtraction", x - x.Mean(-1), layer);
        var scale = hooks.Run(prefix + ".scale", (centered * centered).Mean(-1).SqrtPlus(_eps), layer);
        return hooks.Run(prefix + ".post_scale", centered / scale, layer);
    }
}
