using System.Buffers;
using System.Runtime.InteropServices;

namespace ReconService.Models.Tensors.Safetensors;

/// <summary>
/// A tensor's row-major, little-endian element bytes with its dtype and shape: what a safetensors file stores. The
/// memory is the tensor's own (see the Engine's tensor adapter), so writing it copies nothing on our side.
/// </summary>
public sealed record TensorBytes
{
    /// <summary>Describes <paramref name="data"/> as a tensor.</summary>
    /// <exception cref="ArgumentException">The byte count does not match the shape and dtype.</exception>
    public TensorBytes(TensorDtype dtype, long[] shape, ReadOnlyMemory<byte> data)
    {
        long n = dtype.Size();
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative axis in shape {SafetensorsHeader.Format(shape)}", nameof(shape));
            n = checked(n * d);
        }
        if (n != data.Length)
            throw new ArgumentException($"shape {SafetensorsHeader.Format(shape)} of {dtype.WireName()} needs {n} bytes, got {data.Length}", nameof(data));
        Dtype = dtype;
        Shape = shape;
        Data = data;
    }

    /// <summary>Element type.</summary>
    public TensorDtype Dtype { get; }

    /// <summary>Size of every axis, outermost first.</summary>
    public long[] Shape { get; }

    /// <summary>Row-major, little-endian element bytes.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>Float32 values viewed as bytes, without copying (for payloads that hold <see cref="ReadOnlyMemory{T}"/> of float).</summary>
    public static TensorBytes Float32(long[] shape, ReadOnlyMemory<float> values) =>
        new(TensorDtype.Float32, shape, AsBytes(values));

    /// <summary>Int32 values viewed as bytes, without copying.</summary>
    public static TensorBytes Int32(long[] shape, ReadOnlyMemory<int> values) =>
        new(TensorDtype.Int32, shape, AsBytes(values));

    /// <summary>The bytes of <paramref name="values"/> as memory, sharing its storage (little-endian hosts).</summary>
    public static ReadOnlyMemory<byte> AsBytes<T>(ReadOnlyMemory<T> values) where T : unmanaged =>
        values.IsEmpty ? ReadOnlyMemory<byte>.Empty : new ByteView<T>(values).Memory;

    /// <summary>A byte view over memory of <typeparamref name="T"/>; pins through the source.</summary>
    private sealed unsafe class ByteView<T>(ReadOnlyMemory<T> source) : MemoryManager<byte> where T : unmanaged
    {
        public override Span<byte> GetSpan() =>
            MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(source.Span), source.Length));

        public override MemoryHandle Pin(int elementIndex = 0)
        {
            var handle = source.Pin();
            return new MemoryHandle((byte*)handle.Pointer + elementIndex, default, new Unpinner(handle));
        }

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }

        private sealed class Unpinner(MemoryHandle handle) : IPinnable
        {
            public MemoryHandle Pin(int elementIndex) => throw new NotSupportedException();
            public void Unpin() => handle.Dispose();
        }
    }
}
