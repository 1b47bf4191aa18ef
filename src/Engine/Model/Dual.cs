using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ReconService.Engine.Model;

/// <summary>
/// A tensor value with an optional forward-mode tangent (a dual number), so that one code path computes
/// activations, feeds reverse-mode autograd through <see cref="Value"/>, and propagates Jacobian-vector
/// products through <see cref="Tangent"/>. A null tangent means zero: ops then skip tangent work.
/// </summary>
/// <remarks>TorchSharp has no forward-mode AD; this is the exact forward mode written out per operation.</remarks>
/// <param name="Value">The primal value, any shape.</param>
/// <param name="Tangent">d Value / d input times the write vector, shaped like <see cref="Value"/>; null for zero.</param>
public readonly record struct Dual(Tensor Value, Tensor? Tangent)
{
    /// <summary>A constant: no tangent.</summary>
    public static implicit operator Dual(Tensor value) => new(value, null);

    /// <summary>Treats the value as a constant for both reverse-mode (detached from the graph) and forward-mode derivatives.</summary>
    public Dual Detach() => new(Value.detach(), null);

    /// <summary>Elementwise sum with broadcasting.</summary>
    public static Dual operator +(Dual a, Dual b) => new(a.Value + b.Value, AddTangents(a.Tangent, b.Tangent));

    /// <summary>Elementwise difference with broadcasting.</summary>
    public static Dual operator -(Dual a, Dual b) =>
        new(a.Value - b.Value, b.Tangent is null ? a.Tangent : a.Tangent is null ? -b.Tangent : a.Tangent - b.Tangent);

    /// <summary>Elementwise product with broadcasting.</summary>
    public static Dual operator *(Dual a, Dual b) =>
        new(a.Value * b.Value, AddTangents(a.Tangent is null ? null : a.Tangent * b.Value, b.Tangent is null ? null : a.Value * b.Tangent));

    /// <summary>Product with a constant scalar.</summary>
    public static Dual operator *(Dual a, double c) => new(a.Value * c, a.Tangent is null ? null : a.Tangent * c);

    /// <summary>Elementwise quotient with broadcasting.</summary>
    public static Dual operator /(Dual a, Dual b)
    {
        var value = a.Value / b.Value;
        Tensor? tangent = a.Tangent is null ? null : a.Tangent / b.Value;
        if (b.Tangent is not null) tangent = AddTangents(tangent, -(value * b.Tangent / b.Value));
        return new(value, tangent);
    }

    /// <summary>Mean over <paramref name="dim"/>, keeping it.</summary>
    public Dual Mean(long dim) => new(Value.mean([dim], keepdim: true), Tangent?.mean([dim], keepdim: true));

    /// <summary>Sum over <paramref name="dim"/>, keeping it.</summary>
    public Dual Sum(long dim) => new(Value.sum(dim, keepdim: true), Tangent?.sum(dim, keepdim: true));

    /// <summary><c>sqrt(x + eps)</c>.</summary>
    public Dual SqrtPlus(double eps)
    {
        var value = (Value + eps).sqrt();
        return new(value, Tangent is null ? null : Tangent / (value * 2));
    }

    /// <summary><c>x W^T + b</c> for a <c>Linear</c> weight <c>[out, in]</c> and bias <c>[out]</c> (bias optional).</summary>
    public Dual Linear(Tensor weight, Tensor? bias) =>
        new(nn.functional.linear(Value, weight, bias), Tangent is null ? null : nn.functional.linear(Tangent, weight));

    /// <summary>Reshapes value and tangent alike.</summary>
    public Dual Reshape(params long[] shape) => new(Value.reshape(shape), Tangent?.reshape(shape));

    /// <summary>Permutes value and tangent alike.</summary>
    public Dual Permute(params long[] dims) => new(Value.permute(dims), Tangent?.permute(dims));

    /// <summary>Narrows value and tangent alike.</summary>
    public Dual Narrow(long dim, long start, long length) => new(Value.narrow(dim, start, length), Tangent?.narrow(dim, start, length));

    /// <summary>Drops a size-1 axis of value and tangent alike.</summary>
    public Dual Squeeze(long dim) => new(Value.squeeze(dim), Tangent?.squeeze(dim));

    /// <summary><c>max(0, x)</c>; its derivative is taken as 0 at 0, as PyTorch does.</summary>
    public Dual Relu()
    {
        var value = nn.functional.relu(Value);
        return new(value, Tangent is null ? null : Tangent * Value.gt(0));
    }

    /// <summary>
    /// GPT-2's tanh-approximate GELU, <c>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))</c>, with its exact derivative.
    /// </summary>
    public Dual GeluTanh()
    {
        var value = nn.functional.gelu(Value, GELU.Approximate.tanh);
        if (Tangent is null) return new(value, null);
        const double c = 0.7978845608028654; // sqrt(2 / pi)
        // derivative = (1 + t) / 2 + x c (1 - t^2) (1 + 3 a x^2) / 2 with t = tanh(c (x + a x^3)), a = 0.044715.
        // Tangents are never differentiated, so the derivative is built in place: four full-size tensors, not eighteen;
        // t becomes the result tangent. The temporaries are left to the caller's dispose scope: disposing a tensor early
        // inside a scope makes TorchSharp count it twice in Tensor.TotalCount.
        var x2 = Value.square();
        var t = x2.mul(0.044715).add_(1).mul_(Value).mul_(c).tanh_();
        var oneMinusT2 = t.square().neg_().add_(1);
        x2.mul_(3 * 0.044715).add_(1).mul_(Value).mul_(0.5 * c).mul_(oneMinusT2);
        return new(value, t.add_(1).mul_(0.5).add_(x2).mul_(Tangent));
    }

    /// <summary>
    /// The exact GELU <c>x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))</c>, with its derivative <c>Phi(x) + x phi(x)</c>
    /// (<c>phi</c> the standard normal density).
    /// </summary>
    public Dual GeluErf()
    {
        var value = nn.functional.gelu(Value, GELU.Approximate.none);
        if (Tangent is null) return new(value, null);
        const double invSqrt2 = 0.7071067811865476, invSqrt2Pi = 0.3989422804014327;
        var density = Value.square().mul_(-0.5).exp_().mul_(invSqrt2Pi).mul_(Value);
        var cdf = (Value * invSqrt2).erf_().add_(1).mul_(0.5);
        return new(value, cdf.add_(density).mul_(Tangent));
    }

    /// <summary>Float32 softmax over <paramref name="dim"/>; tangent <c>p (dz - sum(p dz))</c>.</summary>
    public Dual Softmax(long dim)
    {
        var p = Value.softmax(dim, ScalarType.Float32);
        if (Tangent is null) return new(p, null);
        var pdz = p * Tangent;
        return new(p, pdz - p * pdz.sum(dim, keepdim: true));
    }

    /// <summary>Float32 log-softmax over <paramref name="dim"/>; tangent <c>dz - sum(softmax(z) dz)</c>.</summary>
    public Dual LogSoftmax(long dim)
    {
        var logp = Value.log_softmax(dim, ScalarType.Float32);
        if (Tangent is null) return new(logp, null);
        return new(logp, Tangent - (logp.exp() * Tangent).sum(dim, keepdim: true));
    }

    /// <summary>Sets entries where <paramref name="mask"/> is true to <paramref name="fill"/>; their tangent is 0.</summary>
    public Dual MaskedFill(Tensor mask, double fill) =>
        new(Value.masked_fill(mask, fill), Tangent?.masked_fill(mask, 0));

    /// <summary>
    /// <c>einsum(equation, a, b)</c> for an equation linear in each operand; tangent <c>einsum(da, b) + einsum(a, db)</c>.
    /// </summary>
    public static Dual Einsum(string equation, Dual a, Dual b) =>
        new(einsum(equation, a.Value, b.Value), AddTangents(
            a.Tangent is null ? null : einsum(equation, a.Tangent, b.Value),
            b.Tangent is null ? null : einsum(equation, a.Value, b.Tangent)));

    private static Tensor? AddTangents(Tensor? a, Tensor? b) => a is null ? b : b is null ? a : a + b;
}
