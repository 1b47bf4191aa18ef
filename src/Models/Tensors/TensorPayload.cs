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
/// <para>A payload holds its data in one of three forms: base64 text as read from a JSON request, kept undecoded so
/// that the service decodes it straight into tensor memory once the shape is known (<see cref="TryDecodeTo"/>);
/// float32 values (a request sent as nested lists, or values built in memory); or the raw little-endian bytes of any
/// <see cref="TensorDtype"/> (a tensor of a safetensors request, viewed in the request body, or an answer tensor
/// viewed in the tensor's own memory: <see cref="FromBytes"/>).</para>
/// <para>Answer payloads may carry the name the safetensors answer stores them under (<see cref="Name"/>) and, with
/// <c>output.topK</c>, their int32 sibling (<see cref="Indices"/>), which the response records expose as
/// <c>XIndices</c> fields.</para>
/// </remarks>
[JsonConverter(typeof(TensorPayloadJsonConverter))]
public sealed class TensorPayload
{
    private ReadOnlyMemory<byte> _base64Utf8;
    private byte[]? _rentedText;
    private bool _textReturned;
    private readonly ReadOnlyMemory<float> _values;
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly PayloadForm _form;

    private enum PayloadForm { Text, Values, Bytes }

    private TensorPayload(string dtype, long[] shape, ReadOnlyMemory<byte> base64Utf8, ReadOnlyMemory<float> values, TensorEncoding encoding,
        PayloadForm form, ReadOnlyMemory<byte> bytes = default, string? name = null)
    {
        _form = form;
        Dtype = dtype;
        Shape = shape;
        _base64Utf8 = base64Utf8;
        _values = values;
        _bytes = bytes;
        Encoding = encoding;
        Name = name;
    }

    /// <summary>Element type: <c>float32</c>, <c>float16</c> or <c>bfloat16</c> (inputs and answers), <c>int32</c> (top-k indices in answers).</summary>
    public string Dtype { get; }

    /// <summary>
    /// The name a safetensors answer stores this tensor under (<c>activations</c>, <c>captured/mlp.post_act/1</c>,
    /// <c>activationsIndices</c>), or null to name it by its path in the answer.
    /// </summary>
    public string? Name { get; }

    /// <summary>With <c>output.topK</c>: the int32 positions of the kept values on the unreduced last axis; otherwise null.</summary>
    public TensorPayload? Indices { get; private set; }

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

    /// <summary>Values as float32 when the payload holds them (requests sent as lists, values built in memory); empty otherwise.</summary>
    public ReadOnlyMemory<float> Values => _values;

    /// <summary>Whether <see cref="Values"/> holds the data.</summary>
    public bool HasValues => _form == PayloadForm.Values;

    /// <summary>Whether <see cref="Bytes"/> holds the data.</summary>
    public bool HasBytes => _form == PayloadForm.Bytes;

    /// <summary>Whether the data is base64 text read from a request (<see cref="Base64Utf8"/>).</summary>
    public bool IsText => _form == PayloadForm.Text;

    /// <summary>The row-major, little-endian element bytes when the payload holds them (<see cref="FromBytes"/>); empty otherwise.</summary>
    public ReadOnlyMemory<byte> Bytes => _bytes;

    /// <summary>The element type as a <see cref="TensorDtype"/>, or null for a name this service does not use.</summary>
    public TensorDtype? Kind => TensorDtypes.FromWireName(Dtype);

    /// <summary>Base64 text as read from a request (UTF-8); empty for list payloads and responses.</summary>
    /// <exception cref="InvalidOperationException">The text was pooled and its request has ended (<see cref="TensorTextPool"/>).</exception>
    public ReadOnlyMemory<byte> Base64Utf8 => _textReturned
        ? throw new InvalidOperationException("this payload's base64 text was returned to the pool when its request ended")
        : _base64Utf8;

    /// <summary>A payload read from base64 text (kept undecoded).</summary>
    public static TensorPayload FromBase64(string dtype, long[] shape, ReadOnlyMemory<byte> base64Utf8) =>
        new(dtype, shape, base64Utf8, ReadOnlyMemory<float>.Empty, TensorEncoding.Base64, PayloadForm.Text);

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
        var payload = new TensorPayload("float32", shape, ReadOnlyMemory<byte>.Empty, values, encoding, PayloadForm.Values);
        if (payload.ElementCount != values.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] holds {payload.ElementCount} values, got {values.Length}", nameof(values));
        return payload;
    }

    /// <summary>
    /// A payload over the row-major, little-endian bytes of <paramref name="data"/>, which it reads without copying (a
    /// tensor's own memory, or a slice of a request body): the memory must stay valid until the payload is encoded or
    /// decoded.
    /// </summary>
    /// <param name="dtype">Element type.</param>
    /// <param name="shape">Size of every axis.</param>
    /// <param name="data">Exactly shape × element size bytes.</param>
    /// <param name="encoding">How a JSON answer writes it.</param>
    /// <param name="name">The safetensors name of an answer tensor (<see cref="Name"/>), or null.</param>
    /// <exception cref="ArgumentException">The byte count does not match the shape and dtype.</exception>
    public static TensorPayload FromBytes(TensorDtype dtype, long[] shape, ReadOnlyMemory<byte> data, TensorEncoding encoding = TensorEncoding.Base64,
        string? name = null)
    {
        var payload = new TensorPayload(dtype.WireName(), shape, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<float>.Empty, encoding, PayloadForm.Bytes, data, name);
        if (payload.ElementCount * dtype.Size() != data.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] of {dtype.WireName()} needs {payload.ElementCount * dtype.Size()} bytes, got {data.Length}",
                nameof(data));
        return payload;
    }

    /// <summary>Attaches the int32 top-k positions of this answer tensor (<see cref="Indices"/>); returns this payload.</summary>
    /// <exception cref="ArgumentException"><paramref name="indices"/> is not int32 or not of this payload's shape.</exception>
    /// <exception cref="InvalidOperationException">Indices were attached already.</exception>
    public TensorPayload WithIndices(TensorPayload indices)
    {
        if (indices.Dtype != "int32" || !indices.Shape.SequenceEqual(Shape))
            throw new ArgumentException($"top-k indices are int32 of shape [{string.Join(", ", Shape)}], got {indices.Dtype} [{string.Join(", ", indices.Shape)}]",
                nameof(indices));
        if (Indices is not null) throw new InvalidOperationException("indices were attached already");
        Indices = indices;
        return this;
    }

    /// <summary>Bytes per element of a dtype name accepted in requests (float32, float16, bfloat16), or 0 for another name.</summary>
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
        if (HasBytes)
        {
            if (_bytes.Length != destination.Length) return $"data holds {_bytes.Length} bytes; shape and dtype need {destination.Length}";
            _bytes.Span.CopyTo(destination);
            if (!BitConverter.IsLittleEndian) ReverseElements(destination, Kind?.Size() ?? 1);
            return null;
        }
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
