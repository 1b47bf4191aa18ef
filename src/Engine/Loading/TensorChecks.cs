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
    /// Accepts float32, float16 and bfloat16, the dtypes checkpoints of this model family are published in.
    /// </summary>
    /// <exception cref="WeightLoadException">Any other dtype.</exception>
    public static torch.Tensor ToFloat32(torch.Tensor tensor, string file, string name)
    {
        if (!IsSupported(tensor.dtype))
            throw new WeightLoadException(file, $"tensor '{name}': unsupported dtype {tensor.dtype} (expected float32, float16 or bfloat16)");
        return tensor.dtype == torch.ScalarType.Float32 ? tensor : tensor.to_type(torch.ScalarType.Float32);
    }

    /// <summary>True for the floating dtypes the loaders convert to float32.</summary>
    public static bool IsSupported(torch.ScalarType dtype) =>
        dtype is torch.ScalarType.Float32 or torch.ScalarType.Float16 or torch.ScalarType.BFloat16;
}
