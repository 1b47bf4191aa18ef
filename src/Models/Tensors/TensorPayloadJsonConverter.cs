using System.Text.Json;
using System.Text.Json.Serialization;

namespace ReconService.Models.Tensors;

/// <summary>
/// Reads and writes <see cref="TensorPayload"/>. Base64 <c>data</c> is copied as UTF-8 text and left
/// undecoded; list <c>data</c> is flattened row-major. Inside a <see cref="TensorPlaceholders"/> scope (a safetensors
/// request), <c>{"tensor": "&lt;name&gt;"}</c> reads as that tensor. Answers are written in their dtype (float32,
/// float16, bfloat16 or int32), as base64 of the little-endian bytes or as nested lists. Errors are
/// <see cref="TensorPayloadException"/>.
/// </summary>
public sealed class TensorPayloadJsonConverter : JsonConverter<TensorPayload>
{
    private const int MaxRank = 8;

    /// <inheritdoc />
    public override TensorPayload Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new TensorPayloadException("", "expected a tensor object {\"dtype\", \"shape\", \"data\"}");
        string dtype = "float32";
        long[]? shape = null;
        (byte[] Buffer, int Length, TensorTextPool? Lender)? text = null;
        List<float>? values = null;
        var members = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            if (name == "tensor" && TensorPlaceholders.Current is { } placeholders) return ReadPlaceholder(ref reader, placeholders, members);
            members++;
            switch (name)
            {
                case "dtype":
                    if (reader.TokenType != JsonTokenType.String) throw new TensorPayloadException("dtype", "expected a string such as \"float32\"");
                    dtype = reader.GetString()!;
                    if (TensorPayload.ElementSizeOf(dtype) == 0)
                        throw new TensorPayloadException("dtype", $"expected float32, float16 or bfloat16, got \"{Truncate(dtype)}\"");
                    break;
                case "shape":
                    shape = ReadShape(ref reader);
                    break;
                case "data":
                    if (reader.TokenType == JsonTokenType.String) text = CopyText(ref reader);
                    else if (reader.TokenType == JsonTokenType.StartArray) values = ReadValues(ref reader);
                    else throw new TensorPayloadException("data", "expected a base64 string or nested arrays of numbers");
                    break;
                default:
                    throw new TensorPayloadException(Truncate(name ?? ""), "unknown field; a tensor has dtype, shape and data");
            }
        }
        if (shape is null) throw new TensorPayloadException("shape", "is required: one non-negative integer per axis");
        if (text is null && values is null) throw new TensorPayloadException("data", "is required: base64 of the little-endian values");
        if (values is not null)
        {
            var payload = TensorPayload.FromBase64(dtype, shape, ReadOnlyMemory<byte>.Empty);
            if (payload.ElementCount != values.Count)
                throw new TensorPayloadException("data", $"shape [{string.Join(", ", shape)}] holds {payload.ElementCount} values, the list has {values.Count}");
            return TensorPayload.FromValues(shape, values.ToArray(), TensorEncoding.List);
        }
        var (buffer, length, lender) = text!.Value;
        return lender is null
            ? TensorPayload.FromBase64(dtype, shape, buffer.AsMemory(0, length))
            : TensorPayload.FromRentedBase64(dtype, shape, buffer, length, lender);
    }

    /// <summary><c>{"tensor": "&lt;name&gt;"}</c> in a safetensors request: the tensor of that name, with no other member.</summary>
    private static TensorPayload ReadPlaceholder(ref Utf8JsonReader reader, TensorPlaceholders placeholders, int membersBefore)
    {
        if (reader.TokenType != JsonTokenType.String) throw new TensorPayloadException("tensor", "expected the name of a tensor of the safetensors body");
        if (membersBefore > 0)
            throw new TensorPayloadException("tensor", "a tensor placeholder holds only \"tensor\"; its dtype, shape and data are the safetensors entry's");
        var payload = placeholders.Take(reader.GetString()!);
        if (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            throw new TensorPayloadException(Truncate(reader.GetString() ?? ""), "a tensor placeholder holds only \"tensor\"");
        return payload;
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, TensorPayload value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("dtype", value.Dtype);
        writer.WriteStartArray("shape");
        foreach (var d in value.Shape) writer.WriteNumberValue(d);
        writer.WriteEndArray();
        writer.WritePropertyName("data");
        if (value.IsText) writer.WriteStringValue(value.Base64Utf8.Span);
        else if (value.Encoding == TensorEncoding.List) new TensorListWriter(value).WriteAll(writer);
        else if (value.HasValues) WriteBase64(writer, value.Values.Span);
        else WriteBase64(writer, value.Bytes.Span, value.Kind!.Value.Size());
        writer.WriteEndObject();
    }

    /// <summary>Base64 of little-endian element bytes (a big-endian host swaps each element of <paramref name="size"/> bytes first).</summary>
    private static void WriteBase64(Utf8JsonWriter writer, ReadOnlySpan<byte> littleEndian, int size)
    {
        if (BitConverter.IsLittleEndian || size == 1)
        {
            writer.WriteBase64StringValue(littleEndian);
            return;
        }
        var swapped = littleEndian.ToArray();
        for (var i = 0; i + size <= swapped.Length; i += size) swapped.AsSpan(i, size).Reverse();
        writer.WriteBase64StringValue(swapped);
    }

    private static void WriteBase64(Utf8JsonWriter writer, ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian)
        {
            writer.WriteBase64StringValue(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
            return;
        }
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        writer.WriteBase64StringValue(bytes);
    }

    private static long[] ReadShape(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new TensorPayloadException("shape", "expected an array of non-negative integers");
        var shape = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var d) || d < 0)
                throw new TensorPayloadException("shape", "expected an array of non-negative integers");
            shape.Add(d);
            if (shape.Count > MaxRank) throw new TensorPayloadException("shape", $"expected at most {MaxRank} axes");
        }
        double elements = 1;
        foreach (var d in shape) elements *= d;
        if (elements > int.MaxValue) throw new TensorPayloadException("shape", $"expected at most {int.MaxValue} elements");
        return shape.ToArray();
    }

    /// <summary>The string's UTF-8 bytes (unescaped), in a pooled array when a <see cref="TensorTextPool"/> scope is active.</summary>
    private static (byte[] Buffer, int Length, TensorTextPool? Lender) CopyText(ref Utf8JsonReader reader)
    {
        var length = reader.HasValueSequence ? checked((int)reader.ValueSequence.Length) : reader.ValueSpan.Length;
        var (buffer, lender) = TensorTextPool.Rent(length);
        // CopyString copies a plain value as it is, from one segment or several, and unescapes an escaped one (never longer).
        return (buffer, reader.CopyString(buffer), lender);
    }

    private static List<float> ReadValues(ref Utf8JsonReader reader)
    {
        var values = new List<float>();
        var depth = 0;
        do
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartArray:
                    if (++depth > MaxRank) throw new TensorPayloadException("data", $"expected at most {MaxRank} levels of nesting");
                    break;
                case JsonTokenType.EndArray:
                    depth--;
                    break;
                case JsonTokenType.Number:
                    values.Add(reader.GetSingle());
                    break;
                case JsonTokenType.String:
                    values.Add(reader.GetString() switch
                    {
                        "NaN" => float.NaN,
                        "Infinity" => float.PositiveInfinity,
                        "-Infinity" => float.NegativeInfinity,
                        _ => throw new TensorPayloadException("data", "expected numbers, or \"NaN\", \"Infinity\", \"-Infinity\""),
                    });
                    break;
                default:
                    throw new TensorPayloadException("data", "expected nested arrays of numbers");
            }
        } while (depth > 0 && reader.Read());
        return values;
    }

    private static string Truncate(string s) => s.Length <= 32 ? s : s[..32] + "…";
}
