using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>Building request bodies and reading responses as a client would, from raw JSON.</summary>
public static class Wire
{
    /// <summary>Reads <c>NaN</c> and <c>Infinity</c> as the service writes them.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>A tensor payload <c>{dtype, shape, data}</c> from float32 values.</summary>
    public static JsonObject Tensor(long[] shape, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return Tensor(shape, bytes);
    }

    /// <summary>A tensor payload from raw little-endian float32 bytes.</summary>
    public static JsonObject Tensor(long[] shape, byte[] bytes) => new()
    {
        ["dtype"] = "float32",
        ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
        ["data"] = Convert.ToBase64String(bytes),
    };

    /// <summary>POSTs a JSON body.</summary>
    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string path, JsonNode body) =>
        client.PostAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));

    /// <summary>POSTs raw text as JSON.</summary>
    public static Task<HttpResponseMessage> PostRawAsync(this HttpClient client, string path, string body) =>
        client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

    /// <summary>The response's JSON, after asserting 200.</summary>
    public static async Task<JsonElement> OkJsonAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text[..Math.Min(text.Length, 2000)]}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Shape and float32 values of a tensor payload (base64 or list).</summary>
    public static (long[] Shape, float[] Values) ReadTensor(JsonElement payload)
    {
        Assert.Equal("float32", payload.GetProperty("dtype").GetString());
        var shape = payload.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        var data = payload.GetProperty("data");
        float[] values;
        if (data.ValueKind == JsonValueKind.String)
        {
            var bytes = Convert.FromBase64String(data.GetString()!);
            values = new float[bytes.Length / 4];
            for (var i = 0; i < values.Length; i++) values[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        }
        else
        {
            var list = new List<float>();
            Flatten(data, list);
            values = list.ToArray();
        }
        Assert.Equal(shape.Aggregate(1L, (a, b) => a * b), values.LongLength);
        return (shape, values);
    }

    private static void Flatten(JsonElement element, List<float> into)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray()) Flatten(item, into);
            return;
        }
        into.Add(element.ValueKind == JsonValueKind.String
            ? element.GetString() switch { "NaN" => float.NaN, "Infinity" => float.PositiveInfinity, "-Infinity" => float.NegativeInfinity, var s => throw new FormatException(s) }
            : element.GetSingle());
    }

    /// <summary>Asserts an RFC 7807 answer with the status and a detail naming <paramref name="field"/>.</summary>
    public static async Task<JsonElement> AssertProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string field)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        var detail = problem.GetProperty("detail").GetString() ?? "";
        Assert.Contains(field, detail, StringComparison.Ordinal);
        return problem;
    }

    /// <summary>The media type of a response.</summary>
    public static MediaTypeHeaderValue? MediaType(this HttpResponseMessage response) => response.Content.Headers.ContentType;
}
