using ReconService.Engine.Loading;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Operations;

/// <summary>Refuses results that overflowed: NaN or ±Inf computed from finite inputs.</summary>
internal static class OutputChecks
{
    /// <summary>
    /// Throws when <paramref name="output"/> holds NaN or infinite values; with <see cref="NamedTensor.CausalMask"/>,
    /// -inf where the key comes after the query is expected and allowed.
    /// </summary>
    /// <exception cref="ReconstitutionException">Names the output and says how many values overflowed, and where first.</exception>
    public static void RequireFinite(NamedTensor output)
    {
        using var scope = NewDisposeScope();
        var x = output.Tensor;
        if (x.numel() == 0) return;
        var bad = x.isfinite().logical_not();
        if (output.CausalMask && x.dim() >= 3)
        {
            long q = x.shape[^3], k = x.shape[^2];
            var masked = ones(q, k, ScalarType.Bool, device: x.device).triu(1).unsqueeze(-1);
            bad = bad.logical_and(masked.logical_and(x.isneginf()).logical_not());
        }
        var count = bad.sum().item<long>();
        if (count == 0) return;
        var first = bad.nonzero()[0].data<long>().ToArray();
        throw new ReconstitutionException(output.Name,
            $"the result overflowed float32: {count} of {x.numel()} values are NaN or infinite (the first at {TensorChecks.Format(first)}) " +
            "although every input value is finite; send inputs of a smaller magnitude");
    }
}
