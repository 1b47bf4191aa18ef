using System.Buffers.Binary;
using System.Text.Json;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>A tensor read from a safetensors file: shape and raw little-endian bytes.</summary>
public sealed record StoredTensor(string Dtype, long[] Shape, byte[] Bytes)
{
    /// <summary>The values as float32 (F32 only).</summary>
    public float[] Floats()
    {
        if (Dtype != "F32") throw new InvalidOperationException($"expected F32, got {Dtype}");
        var values = new float[Bytes.Length / 4];
        for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(Bytes.AsSpan(i * 4));
        return values;
    }
}

/// <summary>Reads safetensors: an 8-byte little-endian header length, a JSON header, then the raw data.</summary>
public static class SafeTensors
{
    /// <summary>Every tensor of the file, by name.</summary>
    public static Dictionary<string, StoredTensor> Read(string path)
    {
        var file = File.ReadAllBytes(path);
        var headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        using var header = JsonDocument.Parse(file.AsMemory(8, headerLength));
        var dataStart = 8 + headerLength;
        var tensors = new Dictionary<string, StoredTensor>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__") continue;
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(o => checked((int)o.GetInt64())).ToArray();
            tensors[entry.Name] = new StoredTensor(entry.Value.GetProperty("dtype").GetString()!, shape,
                file.AsSpan(dataStart + offsets[0], offsets[1] - offsets[0]).ToArray());
        }
        return tensors;
    }
}
