using TorchSharp;

namespace ReconService.Engine.Tests.Loading;

internal static class TensorAssert
{
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
