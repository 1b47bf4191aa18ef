using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;
using static ReconService.Engine.Tests.Transport.SafetensorsBodies;

namespace ReconService.Engine.Tests.Transport;

/// <summary>Safetensors requests: tensors viewed in the body, the JSON merged with placeholders, every bad file a named 400.</summary>
public sealed class SafetensorsRequestReaderTests
{
    private static SafetensorsRequest Read(byte[] body) => SafetensorsRequestReader.Read(body);

    private static byte[] Bytes(TensorPayload payload)
    {
        var bytes = new byte[payload.Bytes.Length];
        Assert.Null(payload.TryDecodeTo(bytes));
        return bytes;
    }

    private static float[] Floats(byte[] bytes) =>
        Enumerable.Range(0, bytes.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4))).ToArray();

    [Fact]
    public void TensorsAreViewedInTheBodyAndTheJsonHoldsAPlaceholderForEach()
    {
        var body = Request("""{"layerIndex": 1, "nodeType": "mlp_neuron", "output": {"topK": 2}}""",
            ("residual", [2, 3]), ("writeVector", [2, 3]));
        var request = Read(body);
        Assert.Equal(["residual", "writeVector"], request.Tensors.Keys.Order());
        var residual = request.Tensors["residual"];
        Assert.Equal("float32", residual.Dtype);
        Assert.Equal([2L, 3], residual.Shape);
        Assert.Equal([0f, 1, 2, 3, 4, 5], Floats(Bytes(residual)));
        Assert.Equal([6f, 7, 8, 9, 10, 11], Floats(Bytes(request.Tensors["writeVector"])));
        // A view, not a copy: the payload reads the body's own bytes.
        BinaryPrimitives.WriteSingleLittleEndian(body.AsSpan(body.Length - 48), 42f);
        Assert.Equal(42f, Floats(Bytes(residual))[0]);
        using var json = JsonDocument.Parse(request.Json);
        var root = json.RootElement;
        Assert.Equal(1, root.GetProperty("layerIndex").GetInt32());
        Assert.Equal(2, root.GetProperty("output").GetProperty("topK").GetInt32());
        Assert.Equal("""{"tensor":"residual"}""", root.GetProperty("residual").GetRawText());
        Assert.Equal("""{"tensor":"writeVector"}""", root.GetProperty("writeVector").GetRawText());
    }

    [Fact]
    public void HalfPrecisionTensorsAndPaddedHeadersAreAccepted()
    {
        var header = """{"__metadata__":{"request":"{}"},"residual":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}    """;
        var request = Read(Raw(header, [0x80, 0x3f, 0x00, 0xc0]));
        var residual = request.Tensors["residual"];
        Assert.Equal("bfloat16", residual.Dtype);
        Assert.Equal(new byte[] { 0x80, 0x3f, 0x00, 0xc0 }, Bytes(residual));
    }

    /// <summary>What the Python client's <c>reconclient.safetensors.pack</c> wrote (F32 residual, F16 writeVector).</summary>
    private const string FromPythonClient =
        "0AAAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJyZXF1ZXN0Ijoie1wibGF5ZXJJbmRleFwiOjAsXCJub2RlVHlwZVwiOlwibWxwX25ldXJvblwifSJ9LCJyZXNpZHVhbCI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMiwyXSwiZGF0YV9vZmZzZXRzIjpbMCwxNl19LCJ3cml0ZVZlY3RvciI6eyJkdHlwZSI6IkYxNiIsInNoYXBlIjpbMl0sImRhdGFfb2Zmc2V0cyI6WzE2LDIwXX19ICAgAADAPwAAAMAAAEBAAACAQAA4ADw=";

    [Fact]
    public void ABodyWrittenByThePythonClientIsRead()
    {
        var request = Read(Convert.FromBase64String(FromPythonClient));
        Assert.Equal([1.5f, -2, 3, 4], Floats(Bytes(request.Tensors["residual"])));
        var half = Bytes(request.Tensors["writeVector"]);
        Assert.Equal([0.5f, 1f], [(float)BinaryPrimitives.ReadHalfLittleEndian(half), (float)BinaryPrimitives.ReadHalfLittleEndian(half.AsSpan(2))]);
        Assert.Equal("float16", request.Tensors["writeVector"].Dtype);
        using var json = JsonDocument.Parse(request.Json);
        Assert.Equal("mlp_neuron", json.RootElement.GetProperty("nodeType").GetString());
    }

    [Fact]
    public void ARequestWithoutTensorsIsItsJsonAlone()
    {
        var request = Read(Request("""{"prompt": "In the beginning"}"""));
        Assert.Empty(request.Tensors);
        Assert.Equal("""{"prompt":"In the beginning"}""", Encoding.UTF8.GetString(request.Json));
    }

    [Fact]
    public void PlaceholdersReadAsTheirTensorsOnceEachAndOnlyInsideTheScope()
    {
        var request = Read(Request("{}", ("residual", [2])));
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        using (var scope = TensorPlaceholders.Begin(request.Tensors))
        {
            var payload = JsonSerializer.Deserialize<TensorPayload>("""{"tensor":"residual"}""", options)!;
            Assert.Same(request.Tensors["residual"], payload);
            Assert.Empty(scope.Unused);
            var twice = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<TensorPayload>("""{"tensor":"residual"}""", options));
            Assert.Contains("used by another field", twice.Message);
            var unknown = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<TensorPayload>("""{"tensor":"resid"}""", options));
            Assert.Contains("no tensor named \"resid\"", unknown.Message);
            var mixed = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<TensorPayload>("""{"shape":[2],"tensor":"residual"}""", options));
            Assert.Contains("holds only", mixed.Message);
        }
        var outside = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<TensorPayload>("""{"tensor":"residual"}""", options));
        Assert.Contains("unknown field", outside.Message);
    }

    private const string Meta = "\"__metadata__\":{\"request\":\"{}\"}";
    private static readonly byte[] Eight = new byte[8];

    public static TheoryData<string, byte[], string, string> BadBodies() => new()
    {
        { "too short", [1, 0, 0], "body", "expected at least 8 bytes" },
        { "header length past the end", Raw("{" + Meta + "}", [], declaredHeaderLength: 1000), "body", "header length 1000 runs past the end of the body" },
        { "header length over 2^63", Raw("{}", [], declaredHeaderLength: ulong.MaxValue), "body", "runs past the end of the body" },
        { "header not JSON", Raw("{\"a\" 1}", []), "body", "not valid JSON" },
        { "a name not UTF-8", RawInvalidUtf8("{\"\u0001\":1}", []), "body", "not valid UTF-8" },
        { "a dtype not UTF-8", RawInvalidUtf8("{\"a\":{\"dtype\":\"F\u000132\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "body", "not valid UTF-8" },
        { "the request not UTF-8", RawInvalidUtf8("{\"__metadata__\":{\"request\":\"{\\\"a\u0001\\\":1}\"}}", []), "body", "not valid UTF-8" },
        { "a metadata key not UTF-8", RawInvalidUtf8("{\"__metadata__\":{\"\u0001\":\"x\"}}", []), "body", "not valid UTF-8" },
        { "an unpaired surrogate escaped in a name", Raw("{\"\\ud800\":1}", []), "body", "not valid Unicode" },
        { "header an array", Raw("[]", []), "body", "not a JSON object" },
        { "offsets out of range", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", Eight),
            "residual.data_offsets", "[0, 16] is out of range: the body holds 8 bytes of data" },
        { "overlapping data", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"writeVector\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", Eight),
            "writeVector.data_offsets", "[4, 8] overlaps the data of residual [0, 8]" },
        { "a gap", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", Eight),
            "residual.data_offsets", "leaves bytes 0 to 4 unused" },
        { "size not matching the shape", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", Eight),
            "residual.data_offsets", "[0, 8] holds 8 bytes; shape [3] of F32 needs 12" },
        { "offsets not a pair", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", Eight),
            "residual.data_offsets", "expected [begin, end]" },
        { "negative shape", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", Eight),
            "residual.shape", "non-negative integers" },
        { "an unsupported dtype", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", Eight),
            "residual.dtype", "unsupported dtype F64: expected F32, F16 or BF16" },
        { "int32 input", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", Eight),
            "residual.dtype", "unsupported dtype I32" },
        { "an unknown entry member", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"strides\":[1]}}", Eight),
            "residual.strides", "unexpected member" },
        { "a name twice", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"residual\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", Eight),
            "residual", "appears twice" },
        { "no metadata", Raw("{\"residual\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", Eight),
            "__metadata__.request", "is missing" },
        { "request not JSON", Raw("{\"__metadata__\":{\"request\":\"{layerIndex: 1}\"}}", []), "__metadata__.request", "is not valid JSON" },
        { "request not an object", Raw("{\"__metadata__\":{\"request\":\"[1, 2]\"}}", []), "__metadata__.request", "expected a JSON object" },
        { "metadata not strings", Raw("{\"__metadata__\":{\"request\":{\"layerIndex\":1}}}", []), "__metadata__.request", "expected a string" },
        { "another metadata entry", Raw("{\"__metadata__\":{\"request\":\"{}\",\"format\":\"pt\"}}", []), "__metadata__.format", "unknown entry" },
        { "a tensor also in the JSON", Request("""{"Residual": {"dtype": "float32", "shape": [1], "data": "AAAAAA=="}}""", ("residual", [2])),
            "residual", "given both as a tensor and in __metadata__.request" },
        { "bytes after the data", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", Eight),
            "body", "4 bytes follow the last tensor's data" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public void BadFilesAreRefusedNamingTheField(string what, byte[] body, string field, string message)
    {
        var e = Assert.Throws<SafetensorsException>(() => Read(body));
        Assert.True(field == e.Field, $"{what}: field {e.Field}, expected {field} ({e.Message})");
        Assert.True(e.Message.Contains(message, StringComparison.Ordinal), $"{what}: message '{e.Message}' lacks '{message}'");
    }

    [Fact]
    public void AHeaderOverTheLimitIsRefusedBeforeItIsRead()
    {
        var body = Request("{}", ("residual", [2]));
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsRequestReader.Read(body, maxHeaderBytes: 16));
        Assert.Equal("body", e.Field);
        Assert.Contains("over the limit of 16 bytes", e.Message);
    }
}
