using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace ReconService.Engine.Transport;

/// <summary>
/// A contiguous CPU tensor's own storage as <see cref="Memory{T}"/> of bytes: what the safetensors writer sends and
/// what the request reader fills, with no copy in between. Holds an alias of the tensor outside every dispose scope;
/// disposing this frees it (after the answer is written, or when the request ends).
/// </summary>
public sealed unsafe class TensorByteMemory : MemoryManager<byte>
{
    private torch.Tensor? _tensor;
    private readonly int _length;

    /// <summary>Takes an alias of <paramref name="contiguousCpu"/>; the caller keeps (and disposes) its own handle.</summary>
    /// <exception cref="ArgumentException">The tensor is not a contiguous CPU tensor, or holds more than 2 GiB.</exception>
    public TensorByteMemory(torch.Tensor contiguousCpu)
    {
        if (contiguousCpu.device_type != DeviceType.CPU || !contiguousCpu.is_contiguous())
            throw new ArgumentException("expected a contiguous CPU tensor", nameof(contiguousCpu));
        _length = checked((int)(contiguousCpu.numel() * contiguousCpu.ElementSize));
        _tensor = contiguousCpu.alias().DetachFromDisposeScope();
    }

    /// <summary>The tensor whose storage this is (an alias, valid until disposed).</summary>
    /// <exception cref="ObjectDisposedException">Already disposed.</exception>
    public torch.Tensor Tensor => _tensor ?? throw new ObjectDisposedException(nameof(TensorByteMemory));

    /// <inheritdoc />
    public override Span<byte> GetSpan() => _length == 0 ? [] : Tensor.bytes[.._length];

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        // Native tensor memory does not move: no pinning needed, only its address.
        var span = GetSpan();
        return new MemoryHandle((byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(span)) + elementIndex);
    }

    /// <inheritdoc />
    public override void Unpin() { }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => Interlocked.Exchange(ref _tensor, null)?.Dispose();
}
