using System.Buffers.Binary;
using System.Text;

namespace ReconService.Engine.Tests.Transport;

/// <summary>Safetensors bodies built by hand, well-formed or not, for reader tests.</summary>
internal static class SafetensorsBodies
{
    /// <summary>8-byte length (or <paramref name="declaredHeaderLength"/>), the header text, then <paramref name="data"/>.</summary>
    public static byte[] Raw(string header, byte[] data, ulong? declaredHeaderLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var body = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(body, declaredHeaderLength ?? (ulong)json.Length);
        json.CopyTo(body, 8);
        data.CopyTo(body, 8 + json.Length);
        return body;
    }

    /// <summary><see cref="Raw"/> with every U+0001 in <paramref name="header"/> written as the byte 0xFF (never valid in UTF-8).</summary>
    public static byte[] RawInvalidUtf8(string header, byte[] data)
    {
        var body = Raw(header, data);
        for (var i = 8; i < body.Length - data.Length; i++)
            if (body[i] == 0x01) body[i] = 0xFF;
        return body;
    }

    /// <summary>A request: one F32 tensor per entry (names and shapes), values 0, 1, 2, ... across all, and the request JSON.</summary>
    public static byte[] Request(string requestJson, params (string Name, long[] Shape)[] tensors)
    {
        var entries = new List<string>();
        var data = new List<byte>();
        var value = 0f;
        foreach (var (name, shape) in tensors)
        {
            var count = shape.Aggregate(1L, (a, b) => a * b);
            var begin = data.Count;
            for (var i = 0; i < count; i++)
            {
                var bytes = new byte[4];
                BinaryPrimitives.WriteSingleLittleEndian(bytes, value++);
                data.AddRange(bytes);
            }
            entries.Add($"\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{begin},{data.Count}]}}");
        }
        var metadata = $"\"__metadata__\":{{\"request\":{System.Text.Json.JsonSerializer.Serialize(requestJson)}}}";
        return Raw("{" + string.Join(",", [metadata, .. entries]) + "}", data.ToArray());
    }
}
