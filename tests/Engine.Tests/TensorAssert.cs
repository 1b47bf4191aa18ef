using TorchSharp;

namespace ReconService.Engine.Tests;

/// <summary>Elementwise tensor comparisons with messages that say where they differ.</summary>
internal static class TensorAssert
{
    /// <summary>
    /// Same shape and <c>|actual - expected| &lt;= atol + rtol |expected|</c> everywhere (the golden README's tolerance),
    /// with -inf at exactly the same positions.
    /// </summary>
    public static void Close(torch.Tensor expected, torch.Tensor actual, double atol = 1e-5, double rtol = 1e-4)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        var e = expected.contiguous().data<float>().ToArray();
        var a = actual.contiguous().data<float>().ToArray();
        for (var i = 0; i < e.Length; i++)
        {
            if (float.IsNegativeInfinity(e[i]) || float.IsNegativeInfinity(a[i]))
            {
                Assert.True(e[i] == a[i], $"-inf mismatch at flat index {i}: expected {e[i]}, got {a[i]}");
                continue;
            }
            Assert.True(Math.Abs(a[i] - e[i]) <= atol + rtol * Math.Abs(e[i]),
                $"flat index {i}: expected {e[i]}, got {a[i]} (|diff| {Math.Abs(a[i] - e[i])})");
        }
    }

    /// <summary>Same shape, both float32, every element bit-for-bit equal.</summary>
    public static void Identical(torch.Tensor expected, torch.Tensor actual, string name)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{name}: shape [{string.Join(", ", expected.shape)}] vs [{string.Join(", ", actual.shape)}]");
        Assert.Equal(torch.ScalarType.Float32, expected.dtype);
        Assert.Equal(torch.ScalarType.Float32, actual.dtype);
        var a = expected.contiguous().data<float>().ToArray();
        var b = actual.contiguous().data<float>().ToArray();
        for (var i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i]))
                Assert.Fail($"{name}: element {i} is {b[i]}, expected {a[i]}");
    }
}
