using System.Buffers;
using System.Buffers.Text;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace ReconService.Models.Tensors;

/// <summary>
/// A tensor on the wire: <c>{"dtype": "float32", "shape": [12, 768], "data": "&lt;base64&gt;"}</c>.
/// <c>data</c> is base64 of the row-major, little-endian element bytes, or nested JSON arrays following
/// <c>shape</c> (non-finite values as the strings <c>"-Infinity"</c>, <c>"Infinity"</c>, <c>"NaN"</c>).
/// </summary>
/// <remarks>
/// A payload read from a request keeps its base64 text undecoded, so that the service can decode it
/// straight into tensor memory once the shape is known (<see cref="TryDecodeTo"/>). A payload built for a
/// response holds float32 values and the encoding to write them with.
/// </remarks>
[JsonConverter(typeof(TensorPayloadJsonConverter))]
public sealed class TensorPayload
{
    private ReadOnlyMemory<byte> _base64Utf8;
    private byte[]? _rentedText;
    private bool _textReturned;
    private readonly ReadOnlyMemory<float> _values;
    private readonly bool _fromText;

    private TensorPayload(string dtype, long[] shape, ReadOnlyMemory<byte> base64Utf8, ReadOnlyMemory<float> values, TensorEncoding encoding, bool fromText)
    {
        _fromText = fromText;
        Dtype = dtype;
        Shape = shape;
        _base64Utf8 = base64Utf8;
        _values = values;
        Encoding = encoding;
    }

    /// <summary>Element type: <c>float32</c>, <c>float16</c> or <c>bfloat16</c>.</summary>
    public string Dtype { get; }

    /// <summary>Size of every axis, outermost first.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>How <c>data</c> is (or will be) written.</summary>
    public TensorEncoding Encoding { get; }

    /// <summary>Number of elements the shape describes (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n = checked(n * d);
            return n;
        }
    }

    /// <summary>Bytes per element of <see cref="Dtype"/>, or 0 for an unknown dtype.</summary>
    public int ElementSize => ElementSizeOf(Dtype);

    /// <summary>Values as float32 when the payload holds them (responses, and requests sent as lists); empty otherwise.</summary>
    public ReadOnlyMemory<float> Values => _values;

    /// <summary>Whether <see cref="Values"/> holds the data (rather than base64 text).</summary>
    public bool HasValues => !_fromText;

    /// <summary>Base64 text as read from a request (UTF-8); empty for list payloads and responses.</summary>
    /// <exception cref="InvalidOperationException">The text was pooled and its request has ended (<see cref="TensorTextPool"/>).</exception>
    public ReadOnlyMemory<byte> Base64Utf8 => _textReturned
        ? throw new InvalidOperationException("this payload's base64 text was returned to the pool when its request ended")
        : _base64Utf8;

    /// <summary>A payload read from base64 text (kept undecoded).</summary>
    public static TensorPayload FromBase64(string dtype, long[] shape, ReadOnlyMemory<byte> base64Utf8) =>
        new(dtype, shape, base64Utf8, ReadOnlyMemory<float>.Empty, TensorEncoding.Base64, fromText: true);

    /// <summary>A payload over base64 text in an array rented from <paramref name="lender"/>'s pool, returned when the scope ends.</summary>
    internal static TensorPayload FromRentedBase64(string dtype, long[] shape, byte[] rented, int length, TensorTextPool lender)
    {
        var payload = FromBase64(dtype, shape, rented.AsMemory(0, length));
        payload._rentedText = rented;
        lender.Lend(payload);
        return payload;
    }

    /// <summary>Gives rented text back to the array pool (once); the payload's text is unreadable afterwards.</summary>
    internal void ReturnText()
    {
        var rented = Interlocked.Exchange(ref _rentedText, null);
        if (rented is null) return;
        _textReturned = true;
        _base64Utf8 = ReadOnlyMemory<byte>.Empty;
        ArrayPool<byte>.Shared.Return(rented);
    }

    /// <summary>A float32 payload holding <paramref name="values"/> (row-major), written with <paramref name="encoding"/>.</summary>
    /// <exception cref="ArgumentException">The number of values does not match the shape.</exception>
    public static TensorPayload FromValues(long[] shape, ReadOnlyMemory<float> values, TensorEncoding encoding = TensorEncoding.Base64)
    {
        var payload = new TensorPayload("float32", shape, ReadOnlyMemory<byte>.Empty, values, encoding, fromText: false);
        if (payload.ElementCount != values.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] holds {payload.ElementCount} values, got {values.Length}", nameof(values));
        return payload;
    }

    /// <summary>Bytes per element of a dtype name, or 0 when the name is not accepted.</summary>
    public static int ElementSizeOf(string dtype) => dtype switch
    {
        "float32" => 4,
        "float16" or "bfloat16" => 2,
        _ => 0,
    };

    /// <summary>
    /// Decodes the data into <paramref name="destination"/>, which must be exactly
    /// <see cref="ElementCount"/> × <see cref="ElementSize"/> bytes. Returns an error message, or null on success.
    /// </summary>
    /// <exception cref="InvalidOperationException">The text was pooled and its request has ended (<see cref="TensorTextPool"/>).</exception>
    public string? TryDecodeTo(Span<byte> destination)
    {
        if (HasValues)
        {
            if (Dtype != "float32") return $"list data must be float32, got dtype {Dtype}";
            if (_values.Length * sizeof(float) != destination.Length)
                return $"shape holds {destination.Length / sizeof(float)} values, data has {_values.Length}";
            MemoryMarshal.AsBytes(_values.Span).CopyTo(destination);
            return null;
        }
        var text = Base64Utf8.Span;
        var expectedLength = (destination.Length + 2) / 3 * 4;
        if (text.Length != expectedLength)
        {
            if (!Base64.IsValid(text)) return "data is not valid base64 (RFC 4648 with padding)";
            var given = Base64.GetMaxDecodedFromUtf8Length(text.Length) - Padding(text);
            return $"base64 data holds {Math.Max(given, 0)} bytes; shape and dtype need {destination.Length} (base64 length {expectedLength})";
        }
        var status = Base64.DecodeFromUtf8(text, destination, out _, out var written);
        if (status != OperationStatus.Done || written != destination.Length)
            return "data is not valid base64 (RFC 4648 with padding)";
        if (!BitConverter.IsLittleEndian) ReverseElements(destination, ElementSize);
        return null;
    }

    private static int Padding(ReadOnlySpan<byte> text) =>
        text.Length == 0 ? 0 : text[^1] != '=' ? 0 : text.Length > 1 && text[^2] == '=' ? 2 : 1;

    private static void ReverseElements(Span<byte> bytes, int size)
    {
        for (var i = 0; i + size <= bytes.Length; i += size) bytes.Slice(i, size).Reverse();
    }
}
