using System.Buffers;
using System.Runtime.InteropServices;
using TorchSharp;

namespace ReconService.Api.Tensors;

/// <summary>
/// A float32 CPU tensor's own memory as <see cref="Memory{T}"/>, so a response payload can be serialized (base64) straight
/// from it without copying the values out first. The tensor is kept out of dispose scopes and freed when the response
/// has been written (<see cref="TensorRelease"/>), or, for payloads kept longer (cache, examples), by the
/// tensor's own finalizer once nothing refers to them.
/// </summary>
internal sealed unsafe class TensorMemory : MemoryManager<float>
{
    private static readonly AsyncLocal<List<TensorMemory>?> Owned = new();
    private torch.Tensor? _tensor;
    private readonly int _length;

    /// <summary>Takes an alias of <paramref name="contiguousFloat32"/> (a contiguous float32 CPU tensor); the caller keeps its own handle.</summary>
    public TensorMemory(torch.Tensor contiguousFloat32)
    {
        _tensor = contiguousFloat32.alias().DetachFromDisposeScope();
        _length = checked((int)_tensor.numel());
        Owned.Value?.Add(this);
    }

    /// <summary>Starts collecting the payload memory made on this async flow (one request); returns the list.</summary>
    public static List<TensorMemory> BeginRequest() => Owned.Value = [];

    /// <summary>Stops collecting for this async flow.</summary>
    public static void EndRequest() => Owned.Value = null;

    public override Span<float> GetSpan()
    {
        var tensor = _tensor ?? throw new ObjectDisposedException(nameof(TensorMemory));
        return _length == 0 ? [] : MemoryMarshal.Cast<byte, float>(tensor.bytes);
    }

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        // Native tensor memory does not move: no pinning needed, only its address.
        var span = GetSpan();
        return new MemoryHandle((float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetReference(span)) + elementIndex);
    }

    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        var tensor = Interlocked.Exchange(ref _tensor, null);
        if (tensor is null) return;
        tensor.Dispose();
    }
}
