using System.Text.Json;

namespace ReconService.Models.Tensors.Safetensors;

/// <summary>One tensor of a safetensors header.</summary>
/// <param name="Name">Its key in the header.</param>
/// <param name="DtypeName">Its dtype as written (<c>F32</c>, <c>F16</c>, <c>BF16</c>, <c>I32</c>, or another the format knows).</param>
/// <param name="Shape">Size of every axis, outermost first.</param>
/// <param name="Begin">First byte of its data, counted from the start of the data section.</param>
/// <param name="End">One past its last byte.</param>
public sealed record SafetensorsEntry(string Name, string DtypeName, long[] Shape, long Begin, long End)
{
    /// <summary>The dtype, or null when this service does not use it.</summary>
    public TensorDtype? Dtype => TensorDtypes.FromSafetensorsName(DtypeName);

    /// <summary>Bytes of data, <see cref="End"/> - <see cref="Begin"/>.</summary>
    public long ByteLength => End - Begin;
}

/// <summary>
/// The header of a safetensors file: after an 8-byte little-endian length, a JSON object mapping each tensor's name to
/// <c>{"dtype", "shape", "data_offsets": [begin, end]}</c>, and an optional <c>__metadata__</c> object of strings.
/// </summary>
/// <remarks>
/// <see cref="Parse"/> holds a header to the format's rules, as the reference implementation (huggingface/safetensors)
/// does: each entry has exactly those three members; names are unique; a known dtype's byte count matches its shape;
/// the tensors' data, in offset order, covers the data section from byte 0 with neither overlap nor gap.
/// </remarks>
public sealed class SafetensorsHeader
{
    private SafetensorsHeader(IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        Entries = entries;
        Metadata = metadata;
        DataLength = entries.Count == 0 ? 0 : entries[^1].End;
    }

    /// <summary>The tensors, in data order (by <see cref="SafetensorsEntry.Begin"/>).</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The <c>__metadata__</c> entries (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Bytes of the data section the entries cover.</summary>
    public long DataLength { get; }

    /// <summary>Reads and checks a header's JSON (the bytes after the 8-byte length, trailing spaces allowed).</summary>
    /// <exception cref="SafetensorsException">The header breaks the format; the field names the entry at fault.</exception>
    public static SafetensorsHeader Parse(ReadOnlySpan<byte> json)
    {
        var entries = new List<SafetensorsEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        // The format requires UTF-8; checked once here so that no string read below can fail to transcode (a 500).
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new SafetensorsException("body", "the safetensors header is not valid UTF-8");
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new SafetensorsException("body", "the safetensors header is not a JSON object");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var name = reader.GetString()!;
                if (!names.Add(name)) throw new SafetensorsException(name, "appears twice in the safetensors header");
                reader.Read();
                if (name == "__metadata__") ReadMetadata(ref reader, metadata);
                else entries.Add(ReadEntry(ref reader, name));
            }
            if (reader.Read()) throw new SafetensorsException("body", "the safetensors header holds more than one JSON value");
        }
        catch (JsonException e)
        {
            throw new SafetensorsException("body", $"the safetensors header is not valid JSON: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            // A string the reader cannot return (an escaped unpaired surrogate, \ud800).
            throw new SafetensorsException("body", $"the safetensors header holds text that is not valid Unicode: {e.Message}");
        }
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        CheckCoverage(entries);
        return new SafetensorsHeader(entries, metadata);
    }

    private static void ReadMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new SafetensorsException("__metadata__", "expected an object of strings");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
                throw new SafetensorsException($"__metadata__.{key}", "expected a string (JSON text for request fields)");
            if (!metadata.TryAdd(key, reader.GetString()!))
                throw new SafetensorsException($"__metadata__.{key}", "appears twice");
        }
    }

    private static SafetensorsEntry ReadEntry(ref Utf8JsonReader reader, string name)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new SafetensorsException(name, "expected {\"dtype\", \"shape\", \"data_offsets\"}");
        string? dtype = null;
        long[]? shape = null, offsets = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var member = reader.GetString()!;
            reader.Read();
            switch (member)
            {
                case "dtype" when dtype is null:
                    if (reader.TokenType != JsonTokenType.String) throw new SafetensorsException($"{name}.dtype", "expected a string such as \"F32\"");
                    dtype = reader.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = ReadIntegers(ref reader, $"{name}.shape");
                    break;
                case "data_offsets" when offsets is null:
                    offsets = ReadIntegers(ref reader, $"{name}.data_offsets");
                    break;
                default:
                    throw new SafetensorsException($"{name}.{member}", "unexpected member: an entry holds dtype, shape and data_offsets, once each");
            }
        }
        if (dtype is null) throw new SafetensorsException($"{name}.dtype", "is missing");
        if (shape is null) throw new SafetensorsException($"{name}.shape", "is missing");
        if (offsets is null) throw new SafetensorsException($"{name}.data_offsets", "is missing");
        if (offsets.Length != 2 || offsets[1] < offsets[0])
            throw new SafetensorsException($"{name}.data_offsets", $"expected [begin, end] with begin <= end, got {Format(offsets)}");
        var entry = new SafetensorsEntry(name, dtype, shape, offsets[0], offsets[1]);
        if (entry.Dtype is { } known && !HoldsExactly(shape, known.Size(), entry.ByteLength))
            throw new SafetensorsException($"{name}.data_offsets",
                $"{Format(offsets)} holds {entry.ByteLength} bytes; shape {Format(shape)} of {dtype} needs {Describe(shape, known.Size())}");
        return entry;
    }

    private static long[] ReadIntegers(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new SafetensorsException(field, "expected an array of non-negative integers");
        var values = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var v) || v < 0)
                throw new SafetensorsException(field, "expected an array of non-negative integers");
            values.Add(v);
        }
        return values.ToArray();
    }

    private static void CheckCoverage(List<SafetensorsEntry> entries)
    {
        long end = 0;
        SafetensorsEntry? previous = null;
        foreach (var entry in entries)
        {
            if (entry.Begin < end)
                throw new SafetensorsException($"{entry.Name}.data_offsets",
                    $"[{entry.Begin}, {entry.End}] overlaps the data of {previous!.Name} [{previous.Begin}, {previous.End}]");
            if (entry.Begin > end)
                throw new SafetensorsException($"{entry.Name}.data_offsets",
                    previous is null
                        ? $"[{entry.Begin}, {entry.End}] leaves bytes 0 to {entry.Begin} unused: the data section must be covered without gaps"
                        : $"[{entry.Begin}, {entry.End}] leaves a gap after {previous.Name} [{previous.Begin}, {previous.End}]: the data section must be covered without gaps");
            end = entry.End;
            previous = entry;
        }
    }

    private static bool HoldsExactly(long[] shape, int elementSize, long bytes)
    {
        try
        {
            long n = elementSize;
            foreach (var d in shape) n = checked(n * d);
            return n == bytes;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    private static string Describe(long[] shape, int elementSize)
    {
        try
        {
            long n = elementSize;
            foreach (var d in shape) n = checked(n * d);
            return $"{n}";
        }
        catch (OverflowException)
        {
            return "more than 2^63";
        }
    }

    internal static string Format(IEnumerable<long> values) => $"[{string.Join(", ", values)}]";
}
