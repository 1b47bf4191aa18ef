using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ReconService.Models.Tensors.Safetensors;

/// <summary>
/// A safetensors file ready to be written: the header (8-byte little-endian length, then JSON padded with spaces to a
/// multiple of 8 bytes) is built once; the tensors' data is written from their own memory, with no copy on our side.
/// </summary>
/// <remarks>
/// Tensors are laid out by element size, largest first (then in the order given), so that every tensor starts at a
/// multiple of its element size and a reader can view it in place (<c>np.frombuffer</c>). The data section has neither
/// gaps nor padding, as the format requires.
/// </remarks>
public sealed class SafetensorsFile
{
    private readonly byte[] _header;
    private readonly ReadOnlyMemory<byte>[] _data;

    private SafetensorsFile(byte[] header, ReadOnlyMemory<byte>[] data, long length)
    {
        _header = header;
        _data = data;
        Length = length;
    }

    /// <summary>Total bytes of the file (for <c>Content-Length</c>).</summary>
    public long Length { get; }

    /// <summary>The 8-byte length and the padded JSON header.</summary>
    public ReadOnlyMemory<byte> Header => _header;

    /// <summary>Lays out a file holding <paramref name="tensors"/> and <paramref name="metadata"/>.</summary>
    /// <param name="tensors">Name and tensor, names unique and not <c>__metadata__</c>.</param>
    /// <param name="metadata">String entries of <c>__metadata__</c>, or null for none.</param>
    /// <exception cref="ArgumentException">A duplicate or reserved name.</exception>
    public static SafetensorsFile Create(IReadOnlyList<KeyValuePair<string, TensorBytes>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in tensors)
            if (name == "__metadata__" || !names.Add(name))
                throw new ArgumentException($"tensor name '{name}' is reserved or given twice", nameof(tensors));
        var ordered = tensors.Select((t, i) => (t.Key, t.Value, i))
            .OrderByDescending(t => t.Value.Dtype.Size()).ThenBy(t => t.i).ToArray();

        var json = new System.Buffers.ArrayBufferWriter<byte>(256 + 96 * ordered.Length);
        long offset = 0;
        // The header is read by programs, never embedded in a page: escape only what JSON requires (\" rather than \u0022).
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            foreach (var (name, tensor, _) in ordered)
            {
                writer.WriteStartObject(name);
                writer.WriteString("dtype", tensor.Dtype.SafetensorsName());
                writer.WriteStartArray("shape");
                foreach (var d in tensor.Shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset += tensor.Data.Length);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        var padded = (json.WrittenCount + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.WrittenSpan.CopyTo(header.AsSpan(8));
        header.AsSpan(8 + json.WrittenCount).Fill((byte)' ');
        return new SafetensorsFile(header, ordered.Select(t => t.Value.Data).ToArray(), header.Length + offset);
    }

    /// <summary>
    /// Writes the file: the header, then each tensor's memory as it is, at most <paramref name="chunkBytes"/> per write
    /// (a server copies each write into its own buffers before sending: whole tensors would be a second copy).
    /// </summary>
    public async Task WriteToAsync(Stream destination, CancellationToken cancellationToken = default, int chunkBytes = 1 << 20)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 1);
        await destination.WriteAsync(_header, cancellationToken);
        foreach (var data in _data)
            for (var at = 0; at < data.Length; at += chunkBytes)
                await destination.WriteAsync(data.Slice(at, Math.Min(chunkBytes, data.Length - at)), cancellationToken);
    }

    /// <summary>Copies the file into <paramref name="destination"/>, which must hold <see cref="Length"/> bytes.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the file.</exception>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length < Length) throw new ArgumentException($"needs {Length} bytes, got {destination.Length}", nameof(destination));
        _header.CopyTo(destination);
        var at = _header.Length;
        foreach (var data in _data)
        {
            data.Span.CopyTo(destination[at..]);
            at += data.Length;
        }
    }

    /// <summary>The whole file in a new array (for a cache of encoded answers).</summary>
    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        CopyTo(bytes);
        return bytes;
    }
}
