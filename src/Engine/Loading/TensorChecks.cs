using TorchSharp;

namespace ReconService.Engine.Loading;

/// <summary>Shape and dtype checks shared by the loaders; every failure names the file and the tensor.</summary>
internal static class TensorChecks
{
    /// <summary>Formats a shape the way messages show it: <c>[64, 192]</c>.</summary>
    public static string Format(IEnumerable<long> shape) => $"[{string.Join(", ", shape)}]";

    /// <summary>Throws unless <paramref name="tensor"/> has exactly <paramref name="expected"/> as its shape.</summary>
    /// <exception cref="WeightLoadException">The shape differs.</exception>
    public static void ExpectShape(torch.Tensor tensor, string file, string name, params long[] expected)
    {
        if (!tensor.shape.SequenceEqual(expected))
            throw new WeightLoadException(file, $"tensor '{name}': expected shape {Format(expected)}, got {Format(tensor.shape)}");
    }

    /// <summary>
    /// Returns <paramref name="tensor"/> as float32 on the CPU (a new tensor when a conversion is needed).
    /// Accepts float32, float16 and bfloat16, the dtypes checkpoints of this model family are published in, and float64
    /// (SAELens stores BatchTopK's threshold in it).
    /// </summary>
    /// <exception cref="WeightLoadException">Any other dtype.</exception>
    public static torch.Tensor ToFloat32(torch.Tensor tensor, string file, string name)
    {
        if (!IsSupported(tensor.dtype))
            throw new WeightLoadException(file, $"tensor '{name}': unsupported dtype {tensor.dtype} (expected float32, float16, bfloat16 or float64)");
        return tensor.dtype == torch.ScalarType.Float32 ? tensor : tensor.to_type(torch.ScalarType.Float32);
    }

    /// <summary>
    /// True for a tensor that carries no weights: zero elements, or one 0-rank value (published checkpoints hold such
    /// leftovers, e.g. a step counter). Loaders skip these when a file holds them beyond the expected parameters.
    /// </summary>
    public static bool HoldsNothing(IReadOnlyList<long> shape) => shape.Count == 0 || shape.Any(d => d == 0);

    /// <summary>"no elements" or "a single 0-rank value", for messages about <see cref="HoldsNothing"/> tensors.</summary>
    public static string Describe(IReadOnlyList<long> shape) => shape.Count == 0 ? "a single 0-rank value" : "no elements";

    /// <summary>True for the floating dtypes the loaders convert to float32.</summary>
    public static bool IsSupported(torch.ScalarType dtype) =>
        dtype is torch.ScalarType.Float32 or torch.ScalarType.Float16 or torch.ScalarType.BFloat16 or torch.ScalarType.Float64;
}
