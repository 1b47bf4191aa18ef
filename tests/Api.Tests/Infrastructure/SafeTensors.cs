using System.Buffers.Binary;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>A tensor read from a safetensors file: shape and raw little-endian bytes.</summary>
public sealed record StoredTensor(string Dtype, long[] Shape, byte[] Bytes)
{
    /// <summary>The values as float32 (F32, F16 and BF16 widened).</summary>
    public float[] Floats() => Dtype switch
    {
        "F32" => Enumerable.Range(0, Bytes.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(Bytes.AsSpan(i * 4))).ToArray(),
        "F16" => Enumerable.Range(0, Bytes.Length / 2).Select(i => (float)BinaryPrimitives.ReadHalfLittleEndian(Bytes.AsSpan(i * 2))).ToArray(),
        "BF16" => Enumerable.Range(0, Bytes.Length / 2)
            .Select(i => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(i * 2)) << 16)).ToArray(),
        _ => throw new InvalidOperationException($"expected F32, F16 or BF16, got {Dtype}"),
    };

    /// <summary>The values as int32 (I32 only).</summary>
    public int[] Ints()
    {
        if (Dtype != "I32") throw new InvalidOperationException($"expected I32, got {Dtype}");
        return Enumerable.Range(0, Bytes.Length / 4).Select(i => BinaryPrimitives.ReadInt32LittleEndian(Bytes.AsSpan(i * 4))).ToArray();
    }
}

/// <summary>A safetensors file read whole: its tensors by name and its <c>__metadata__</c>.</summary>
public sealed record SafetensorsContent(Dictionary<string, StoredTensor> Tensors, Dictionary<string, string> Metadata)
{
    /// <summary>The answer's JSON (<c>__metadata__["json"]</c>).</summary>
    public JsonElement Json => JsonDocument.Parse(Metadata["json"]).RootElement.Clone();
}

/// <summary>Reads and writes safetensors: an 8-byte little-endian header length, a JSON header, then the raw data.</summary>
public static class SafeTensors
{
    /// <summary>The media type of safetensors bodies.</summary>
    public const string MediaType = "application/x-safetensors";

    /// <summary>Every tensor of the file, by name.</summary>
    public static Dictionary<string, StoredTensor> Read(string path) => Parse(System.IO.File.ReadAllBytes(path)).Tensors;

    /// <summary>The tensors and metadata of a file's bytes.</summary>
    public static SafetensorsContent Parse(byte[] file)
    {
        var headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        using var header = JsonDocument.Parse(file.AsMemory(8, headerLength));
        var dataStart = 8 + headerLength;
        var tensors = new Dictionary<string, StoredTensor>();
        var metadata = new Dictionary<string, string>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                foreach (var m in entry.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString()!;
                continue;
            }
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(o => checked((int)o.GetInt64())).ToArray();
            tensors[entry.Name] = new StoredTensor(entry.Value.GetProperty("dtype").GetString()!, shape,
                file.AsSpan(dataStart + offsets[0], offsets[1] - offsets[0]).ToArray());
        }
        return new SafetensorsContent(tensors, metadata);
    }

    /// <summary>
    /// A JSON request body as a safetensors request: each tensor field (an object with <c>dtype</c>, <c>shape</c> and
    /// base64 <c>data</c>) becomes a tensor of that name; the other fields go to <c>__metadata__["request"]</c>.
    /// </summary>
    public static byte[] Request(JsonObject body)
    {
        var tensors = new List<(string Name, string Dtype, long[] Shape, byte[] Data)>();
        var rest = new JsonObject();
        foreach (var (name, value) in body)
        {
            if (value is JsonObject { } t && t["data"] is JsonValue data && data.TryGetValue<string>(out var base64) && t["shape"] is JsonArray shape)
            {
                var dtype = (t["dtype"]?.GetValue<string>() ?? "float32") switch { "float16" => "F16", "bfloat16" => "BF16", _ => "F32" };
                tensors.Add((name, dtype, shape.Select(d => d!.GetValue<long>()).ToArray(), Convert.FromBase64String(base64)));
            }
            else rest[name] = value?.DeepClone();
        }
        return File(tensors, new Dictionary<string, string> { ["request"] = rest.ToJsonString() });
    }

    /// <summary>A safetensors file of <paramref name="tensors"/> (in this order) and <paramref name="metadata"/>.</summary>
    public static byte[] File(IEnumerable<(string Name, string Dtype, long[] Shape, byte[] Data)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var header = new JsonObject();
        if (metadata is not null)
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        var data = new MemoryStream();
        foreach (var (name, dtype, shape, bytes) in tensors)
        {
            header[name] = new JsonObject
            {
                ["dtype"] = dtype, ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(data.Length, data.Length + bytes.Length),
            };
            data.Write(bytes);
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var file = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        data.ToArray().CopyTo(file, 8 + json.Length);
        return file;
    }

    /// <summary>POSTs a safetensors body asking for a safetensors answer (or <paramref name="accept"/>).</summary>
    public static Task<HttpResponseMessage> PostSafetensorsAsync(this HttpClient client, string path, byte[] body, string accept = MediaType)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(MediaType);
        request.Headers.Accept.ParseAdd(accept);
        return client.SendAsync(request);
    }

    /// <summary>POSTs a JSON body asking for a safetensors answer.</summary>
    public static Task<HttpResponseMessage> PostJsonForSafetensorsAsync(this HttpClient client, string path, JsonNode body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd(MediaType);
        return client.SendAsync(request);
    }

    /// <summary>The answer's safetensors content, after asserting 200 and the media type.</summary>
    public static async Task<SafetensorsContent> OkSafetensorsAsync(this HttpResponseMessage response)
    {
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.OK,
            $"expected 200, got {(int)response.StatusCode}: {Encoding.UTF8.GetString(bytes[..Math.Min(bytes.Length, 2000)])}");
        Assert.Equal(MediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(bytes.Length, response.Content.Headers.ContentLength);
        return Parse(bytes);
    }
}
