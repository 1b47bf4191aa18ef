using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;
using PyBridgeSafetensors = TorchSharp.PyBridge.Safetensors;

namespace ReconService.Engine.Loading;

/// <summary>
/// Reads <c>.safetensors</c> files (an 8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets}}</c>, then the raw data) into float32 CPU tensors.
/// </summary>
/// <remarks>
/// TorchSharp.PyBridge reads the data, and handles F32, F16 and BF16. It does not check the header against
/// the file: a truncated file surfaces as a bare <see cref="EndOfStreamException"/>, an unknown dtype as a
/// <see cref="NotImplementedException"/>, neither naming the tensor. So the header is parsed and checked here
/// first (System.Text.Json), and only files that pass are handed to PyBridge.
/// </remarks>
internal static class SafetensorsReader
{
    private static readonly Dictionary<string, int> ElementSizes = new() { ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["F64"] = 8 };

    /// <summary>One header entry.</summary>
    public sealed record Entry(string DType, long[] Shape, long Begin, long End);

    /// <summary>Reads and checks the header of <paramref name="path"/>.</summary>
    /// <returns>Every tensor entry by name (the <c>__metadata__</c> entry left out).</returns>
    /// <exception cref="WeightLoadException">Missing file, a header that is not valid, or data past the end of the file.</exception>
    public static IReadOnlyDictionary<string, Entry> ReadHeader(string path)
    {
        if (!File.Exists(path)) throw new WeightLoadException(path, "missing file");
        using var stream = File.OpenRead(path);
        Span<byte> prefix = stackalloc byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw new WeightLoadException(path, $"truncated or corrupt safetensors file: {stream.Length} bytes, too short for a header");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)(stream.Length - 8) || headerLength > int.MaxValue)
            throw new WeightLoadException(path, $"truncated or corrupt safetensors file: header length {headerLength} exceeds the file ({stream.Length} bytes)");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var dataLength = stream.Length - 8 - (long)headerLength;
        return ParseHeader(path, header, dataLength);
    }

    /// <summary>
    /// Reads the tensors of <paramref name="path"/> that <paramref name="keep"/> selects (all when null), as float32.
    /// Tensors left out are not checked beyond their header entry.
    /// </summary>
    /// <returns>Float32 CPU tensors by name. They belong to the caller's dispose scope, if any.</returns>
    /// <exception cref="WeightLoadException">
    /// Missing or truncated file, an invalid header, or a kept tensor whose dtype is not F32, F16, BF16 or F64.
    /// </exception>
    public static Dictionary<string, torch.Tensor> Read(string path, Func<string, bool>? keep = null)
    {
        var header = ReadHeader(path);
        var wanted = header.Keys.Where(name => keep?.Invoke(name) ?? true).ToList();
        foreach (var name in wanted)
        {
            var entry = header[name];
            if (!ElementSizes.ContainsKey(entry.DType))
                throw new WeightLoadException(path, $"tensor '{name}': unsupported dtype {entry.DType} (expected F32, F16, BF16 or F64)");
        }
        Dictionary<string, torch.Tensor> raw;
        try
        {
            raw = PyBridgeSafetensors.LoadStateDict(path, wanted);
        }
        catch (Exception e) when (e is IOException or NotImplementedException or ArgumentException)
        {
            throw new WeightLoadException(path, $"truncated or corrupt safetensors file: {e.Message}", e);
        }
        return raw.ToDictionary(kv => kv.Key, kv => TensorChecks.ToFloat32(kv.Value, path, kv.Key));
    }

    private static Dictionary<string, Entry> ParseHeader(string path, byte[] header, long dataLength)
    {
        var entries = new Dictionary<string, Entry>();
        try
        {
            using var document = JsonDocument.Parse(header);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new WeightLoadException(path, "corrupt safetensors header: not a JSON object");
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__") continue;
                entries.Add(property.Name, ParseEntry(path, property.Name, property.Value, dataLength));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException or ArgumentException)
        {
            throw new WeightLoadException(path, $"corrupt safetensors header: {e.Message}", e);
        }
        return entries;
    }

    private static Entry ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        var dtype = value.GetProperty("dtype").GetString() ?? "";
        var shape = value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        var offsets = value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || shape.Any(d => d < 0))
            throw new WeightLoadException(path, $"tensor '{name}': corrupt header entry {value.GetRawText()}");
        if (offsets[1] > dataLength)
            throw new WeightLoadException(path,
                $"tensor '{name}': truncated file, its data ends at byte {offsets[1]} of the data section but the file holds {dataLength}");
        if (ElementSizes.TryGetValue(dtype, out var size) && offsets[1] - offsets[0] != shape.Aggregate(1L, (a, b) => a * b) * size)
            throw new WeightLoadException(path,
                $"tensor '{name}': header shape {TensorChecks.Format(shape)} of {dtype} does not match its {offsets[1] - offsets[0]} data bytes");
        return new Entry(dtype, shape, offsets[0], offsets[1]);
    }
}
