using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ReconService.Engine.Tests.Loading;

/// <summary>A safetensors file held in memory so tests can rewrite it: rename, drop, add, reshape, retype tensors.</summary>
internal sealed class SafetensorsFixture
{
    public sealed class Entry(string name, string dtype, long[] shape, byte[] data)
    {
        public string Name { get; set; } = name;
        public string DType { get; set; } = dtype;
        public long[] Shape { get; set; } = shape;
        public byte[] Data { get; set; } = data;
    }

    public List<Entry> Tensors { get; } = [];

    public Entry this[string name] => Tensors.Single(t => t.Name == name);

    public static SafetensorsFixture Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        var fixture = new SafetensorsFixture();
        foreach (var p in header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__"))
        {
            var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt32()).ToArray();
            fixture.Tensors.Add(new Entry(p.Name, p.Value.GetProperty("dtype").GetString()!,
                p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                bytes[(8 + headerLength + offsets[0])..(8 + headerLength + offsets[1])]));
        }
        return fixture;
    }

    /// <summary>Float32 values of a tensor stored as F32, F16 or BF16, decoded here independently of the loader.</summary>
    public float[] Floats(string name)
    {
        var t = this[name];
        return t.DType switch
        {
            "F32" => Enumerable.Range(0, t.Data.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(t.Data.AsSpan(4 * i))).ToArray(),
            "F16" => Enumerable.Range(0, t.Data.Length / 2).Select(i => (float)BinaryPrimitives.ReadHalfLittleEndian(t.Data.AsSpan(2 * i))).ToArray(),
            "BF16" => Enumerable.Range(0, t.Data.Length / 2)
                .Select(i => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(t.Data.AsSpan(2 * i)) << 16)).ToArray(),
            _ => throw new NotSupportedException(t.DType),
        };
    }

    public void Write(string path)
    {
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (var t in Tensors)
        {
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.DType,
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + t.Data.Length),
            };
            offset += t.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        stream.Write(length);
        stream.Write(json);
        foreach (var t in Tensors) stream.Write(t.Data);
    }
}
