using System.Buffers.Binary;
using System.Text.Json;

namespace ReconService.Models.Tensors;

/// <summary>
/// Writes a payload's data as nested JSON arrays following its shape (<c>"outputEncoding": "list"</c>), a slice of
/// elements at a time, so that a large answer can be written to the response in chunks rather than built whole.
/// Float values are JSON numbers, non-finite ones the strings <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>;
/// float16 and bfloat16 values are written as the float32 numbers they equal; int32 values as integers.
/// </summary>
public sealed class TensorListWriter
{
    private readonly TensorPayload _payload;
    private readonly TensorDtype _dtype;
    private readonly long[] _strides;
    private readonly long _count;
    private long _next;
    private bool _emptyWritten;

    /// <summary>A writer for <paramref name="payload"/>, which holds values or bytes (not base64 text).</summary>
    /// <exception cref="ArgumentException">The payload holds base64 text, or a dtype that is not known.</exception>
    public TensorListWriter(TensorPayload payload)
    {
        if (payload.IsText) throw new ArgumentException("a payload of base64 text is written as it is, not as lists", nameof(payload));
        _payload = payload;
        _dtype = payload.HasValues ? TensorDtype.Float32 : payload.Kind ?? throw new ArgumentException($"unknown dtype {payload.Dtype}", nameof(payload));
        _count = payload.ElementCount;
        _strides = new long[payload.Shape.Count];
        long stride = 1;
        for (var axis = _strides.Length - 1; axis >= 0; axis--) _strides[axis] = stride *= payload.Shape[axis];
    }

    /// <summary>Whether the whole data has been written.</summary>
    public bool Done => _count == 0 ? _emptyWritten : _next == _count;

    /// <summary>Writes the whole data as one JSON value.</summary>
    public void WriteAll(Utf8JsonWriter writer)
    {
        while (!WriteSome(writer, long.MaxValue)) { }
    }

    /// <summary>Writes up to <paramref name="maxElements"/> more elements (with the brackets around them); true once everything is written.</summary>
    public bool WriteSome(Utf8JsonWriter writer, long maxElements)
    {
        if (_count == 0)
        {
            if (!_emptyWritten) WriteEmpty(writer, 0);
            _emptyWritten = true;
            return true;
        }
        var end = Math.Min(_count, _next + Math.Max(1, maxElements));
        var rank = _strides.Length;
        for (; _next < end; _next++)
        {
            for (var axis = 0; axis < rank; axis++)
                if (_next % _strides[axis] == 0) writer.WriteStartArray();
            WriteElement(writer, _next);
            for (var axis = rank - 1; axis >= 0; axis--)
                if ((_next + 1) % _strides[axis] == 0) writer.WriteEndArray();
        }
        return Done;
    }

    private void WriteElement(Utf8JsonWriter writer, long index)
    {
        if (_payload.HasValues)
        {
            WriteFloat(writer, _payload.Values.Span[(int)index]);
            return;
        }
        var bytes = _payload.Bytes.Span;
        switch (_dtype)
        {
            case TensorDtype.Float32:
                WriteFloat(writer, BinaryPrimitives.ReadSingleLittleEndian(bytes[(int)(index * 4)..]));
                break;
            case TensorDtype.Float16:
                WriteFloat(writer, (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(int)(index * 2)..]));
                break;
            case TensorDtype.BFloat16:
                WriteFloat(writer, BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(int)(index * 2)..]) << 16));
                break;
            case TensorDtype.Int32:
                writer.WriteNumberValue(BinaryPrimitives.ReadInt32LittleEndian(bytes[(int)(index * 4)..]));
                break;
        }
    }

    /// <summary>A float as a JSON number, or its name when not finite.</summary>
    public static void WriteFloat(Utf8JsonWriter writer, float v)
    {
        if (float.IsFinite(v)) writer.WriteNumberValue(v);
        else writer.WriteStringValue(float.IsNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
    }

    /// <summary>The nested empty arrays of a shape holding no elements (<c>[]</c>, <c>[[], [], []]</c>), or the one value of a scalar's absence.</summary>
    private void WriteEmpty(Utf8JsonWriter writer, int axis)
    {
        writer.WriteStartArray();
        if (axis + 1 < _strides.Length)
            for (long i = 0; i < _payload.Shape[axis]; i++) WriteEmpty(writer, axis + 1);
        writer.WriteEndArray();
    }
}
