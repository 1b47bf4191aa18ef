using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ReconService.Engine.Model;

/// <summary>
/// A <c>Linear</c> layer over checkpoint tensors: <c>y = x W^T + b</c> with <c>weight [out, in]</c> and optional
/// <c>bias [out]</c>. Parameters never require grad: derivatives are taken with respect to inputs only.
/// </summary>
public sealed class Affine : nn.Module
{
#pragma warning disable IDE1006 // fields are named after checkpoint keys
    private readonly Parameter weight;
    private readonly Parameter? bias;
#pragma warning restore IDE1006

    /// <summary>Takes <c>{key}.weight</c> and, when present, <c>{key}.bias</c> from <paramref name="p"/>.</summary>
    public Affine(IReadOnlyDictionary<string, Tensor> p, string key) : base(key)
    {
        weight = new Parameter(p[key + ".weight"], requires_grad: false);
        bias = p.TryGetValue(key + ".bias", out var b) ? new Parameter(b, requires_grad: false) : null;
        RegisterComponents();
    }

    /// <summary>Weight <c>[out, in]</c>.</summary>
    public Tensor Weight => weight;

    /// <summary>Applies the layer to <paramref name="x"/> <c>[..., in]</c>, giving <c>[..., out]</c>.</summary>
    public Dual Forward(Dual x) => x.Linear(weight, bias);
}
