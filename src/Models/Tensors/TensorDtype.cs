using ReconService.Models.Wire;

namespace ReconService.Models.Tensors;

/// <summary>Element types a tensor can travel in: float answers and inputs, and int32 top-k indices.</summary>
public enum TensorDtype
{
    /// <summary>IEEE 754 single precision; JSON <c>float32</c>, safetensors <c>F32</c>.</summary>
    Float32,
    /// <summary>IEEE 754 half precision; JSON <c>float16</c>, safetensors <c>F16</c>.</summary>
    Float16,
    /// <summary>bfloat16; JSON <c>bfloat16</c>, safetensors <c>BF16</c>.</summary>
    BFloat16,
    /// <summary>32-bit signed integer (top-k indices); JSON <c>int32</c>, safetensors <c>I32</c>.</summary>
    Int32,
}

/// <summary>Names and sizes of <see cref="TensorDtype"/>.</summary>
public static class TensorDtypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this TensorDtype dtype) => dtype switch
    {
        TensorDtype.Float32 or TensorDtype.Int32 => 4,
        TensorDtype.Float16 or TensorDtype.BFloat16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The JSON spelling: <c>float32</c>, <c>float16</c>, <c>bfloat16</c>, <c>int32</c>.</summary>
    public static string WireName(this TensorDtype dtype) => dtype switch
    {
        TensorDtype.Float32 => "float32",
        TensorDtype.Float16 => "float16",
        TensorDtype.BFloat16 => "bfloat16",
        TensorDtype.Int32 => "int32",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The safetensors spelling: <c>F32</c>, <c>F16</c>, <c>BF16</c>, <c>I32</c>.</summary>
    public static string SafetensorsName(this TensorDtype dtype) => dtype switch
    {
        TensorDtype.Float32 => "F32",
        TensorDtype.Float16 => "F16",
        TensorDtype.BFloat16 => "BF16",
        TensorDtype.Int32 => "I32",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The dtype of a JSON spelling (<c>float32</c>, <c>float16</c>, <c>bfloat16</c>, <c>int32</c>), or null for another.</summary>
    public static TensorDtype? FromWireName(string name) => name switch
    {
        "float32" => TensorDtype.Float32,
        "float16" => TensorDtype.Float16,
        "bfloat16" => TensorDtype.BFloat16,
        "int32" => TensorDtype.Int32,
        _ => null,
    };

    /// <summary>The dtype of a safetensors spelling, or null for one this service does not use (<c>F64</c>, <c>I64</c>, ...).</summary>
    public static TensorDtype? FromSafetensorsName(string name) => name switch
    {
        "F32" => TensorDtype.Float32,
        "F16" => TensorDtype.Float16,
        "BF16" => TensorDtype.BFloat16,
        "I32" => TensorDtype.Int32,
        _ => null,
    };

    /// <summary>The tensor dtype an <see cref="OutputDtype"/> asks for.</summary>
    public static TensorDtype ToTensorDtype(this OutputDtype dtype) => dtype switch
    {
        OutputDtype.Float32 => TensorDtype.Float32,
        OutputDtype.Float16 => TensorDtype.Float16,
        OutputDtype.BFloat16 => TensorDtype.BFloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };
}
