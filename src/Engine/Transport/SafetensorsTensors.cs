using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;
using TorchSharp;

namespace ReconService.Engine.Transport;

/// <summary>
/// The TorchSharp side of the answer codecs (which know no tensors): an answer tensor's storage as
/// <see cref="TensorBytes"/>, which the JSON and safetensors encoders read without copying.
/// </summary>
public static class SafetensorsTensors
{
    /// <summary>
    /// The bytes of an answer tensor (float32, float16, bfloat16 or int32), read from its own storage: a contiguous CPU
    /// tensor is not copied; another is made contiguous on the CPU once. The storage stays alive, outside every dispose
    /// scope, until the <see cref="TensorByteMemory"/> added to <paramref name="owners"/> is disposed (after the answer
    /// is written).
    /// </summary>
    /// <exception cref="ArgumentException">Another dtype.</exception>
    public static TensorBytes ToBytes(torch.Tensor tensor, ICollection<IDisposable> owners)
    {
        var dtype = DtypeOf(tensor.dtype) ?? throw new ArgumentException($"answers hold float32, float16, bfloat16 or int32, got {tensor.dtype}", nameof(tensor));
        using var scope = torch.NewDisposeScope();
        var memory = new TensorByteMemory(tensor.detach().cpu().contiguous());
        owners.Add(memory);
        return new TensorBytes(dtype, tensor.shape, memory.Memory);
    }

    /// <summary>The wire dtype of a TorchSharp element type, or null for one that does not travel.</summary>
    public static TensorDtype? DtypeOf(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Float32 => TensorDtype.Float32,
        torch.ScalarType.Float16 => TensorDtype.Float16,
        torch.ScalarType.BFloat16 => TensorDtype.BFloat16,
        torch.ScalarType.Int32 => TensorDtype.Int32,
        _ => null,
    };
}
