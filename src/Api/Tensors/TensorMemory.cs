using System.Buffers;
using System.Runtime.InteropServices;
using TorchSharp;

namespace ReconService.Api.Tensors;

/// <summary>
/// A float32 CPU tensor's own memory as <see cref="Memory{T}"/>, so that an answer payload is encoded straight from it
/// without copying the values out first. It neither owns nor extends the tensor's life: the tensor stays in its dispose
/// scope, and the answer is encoded before that scope ends.
/// </summary>
internal sealed unsafe class TensorMemory(torch.Tensor contiguousFloat32) : MemoryManager<float>
{
    private readonly int _length = checked((int)contiguousFloat32.numel());

    public override Span<float> GetSpan() => _length == 0 ? [] : MemoryMarshal.Cast<byte, float>(contiguousFloat32.bytes);

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        // Native tensor memory does not move: no pinning needed, only its address.
        var span = GetSpan();
        return new MemoryHandle((float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetReference(span)) + elementIndex);
    }

    public override void Unpin() { }

    protected override void Dispose(bool disposing) { }
}
