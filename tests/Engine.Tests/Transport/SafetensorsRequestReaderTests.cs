using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;
using static ReconService.Engine.Tests.Transport.SafetensorsBodies;

namespace ReconService.Engine.Tests.Transport;

/// <summary>Safetensors requests: tensors read into the memory given for them, the JSON merged, every bad file a named 400.</summary>
public sealed class SafetensorsRequestReaderTests
{
    private static readonly string[] JvpFields = ["residual", "writeVector"];

    private sealed class Destinations
    {
        public Dictionary<string, byte[]> Buffers { get; } = [];
        public Memory<byte> For(SafetensorsEntry entry) => Buffers[entry.Name] = new byte[entry.ByteLength];
    }

    private static async Task<(SafetensorsRequest Request, Destinations Destinations)> Read(byte[] body, bool knownLength, string[]? fields = null)
    {
        var destinations = new Destinations();
        Stream stream = knownLength ? new MemoryStream(body) : new Trickle(body);
        var request = await SafetensorsRequestReader.ReadAsync(stream, knownLength ? body.Length : null, fields ?? JvpFields, destinations.For);
        return (request, destinations);
    }

    private static float[] Floats(byte[] bytes) =>
        Enumerable.Range(0, bytes.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4))).ToArray();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TensorsAreReadIntoTheirMemoryAndTheJsonHoldsAPlaceholderForEach(bool knownLength)
    {
        var body = Request("""{"layerIndex": 1, "nodeType": "mlp_neuron", "output": {"topK": 2}}""",
            ("residual", [2, 3]), ("writeVector", [2, 3]));
        var (request, destinations) = await Read(body, knownLength);
        Assert.Equal(["residual", "writeVector"], request.Tensors.Select(t => t.Name));
        Assert.Equal([0f, 1, 2, 3, 4, 5], Floats(destinations.Buffers["residual"]));
        Assert.Equal([6f, 7, 8, 9, 10, 11], Floats(destinations.Buffers["writeVector"]));
        using var json = JsonDocument.Parse(request.Json);
        var root = json.RootElement;
        Assert.Equal(1, root.GetProperty("layerIndex").GetInt32());
        Assert.Equal(2, root.GetProperty("output").GetProperty("topK").GetInt32());
        var residual = root.GetProperty("residual");
        Assert.Equal("residual", residual.GetProperty("tensor").GetString());
        Assert.Equal("float32", residual.GetProperty("dtype").GetString());
        Assert.Equal([2L, 3], residual.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal("writeVector", root.GetProperty("writeVector").GetProperty("tensor").GetString());
    }

    [Fact]
    public async Task HalfPrecisionTensorsAndPaddedHeadersAreAccepted()
    {
        var header = """{"__metadata__":{"request":"{}","format":"pt"},"residual":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}    """;
        var (request, destinations) = await Read(Raw(header, [0x80, 0x3f, 0x00, 0xc0]), knownLength: true);
        Assert.Equal(TensorDtype.BFloat16, request.Tensors.Single().Dtype);
        Assert.Equal(new byte[] { 0x80, 0x3f, 0x00, 0xc0 }, destinations.Buffers["residual"]);
        Assert.Contains("\"dtype\":\"bfloat16\"", Encoding.UTF8.GetString(request.Json.Span));
    }

    /// <summary>What the Python client's <c>reconclient.safetensors.pack</c> wrote (F32 residual, F16 writeVector).</summary>
    private const string FromPythonClient =
        "0AAAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJyZXF1ZXN0Ijoie1wibGF5ZXJJbmRleFwiOjAsXCJub2RlVHlwZVwiOlwibWxwX25ldXJvblwifSJ9LCJyZXNpZHVhbCI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMiwyXSwiZGF0YV9vZmZzZXRzIjpbMCwxNl19LCJ3cml0ZVZlY3RvciI6eyJkdHlwZSI6IkYxNiIsInNoYXBlIjpbMl0sImRhdGFfb2Zmc2V0cyI6WzE2LDIwXX19ICAgAADAPwAAAMAAAEBAAACAQAA4ADw=";

    [Fact]
    public async Task ABodyWrittenByThePythonClientIsRead()
    {
        var (request, destinations) = await Read(Convert.FromBase64String(FromPythonClient), knownLength: true);
        Assert.Equal([1.5f, -2, 3, 4], Floats(destinations.Buffers["residual"]));
        var half = destinations.Buffers["writeVector"];
        Assert.Equal([0.5f, 1f], [(float)BinaryPrimitives.ReadHalfLittleEndian(half), (float)BinaryPrimitives.ReadHalfLittleEndian(half.AsSpan(2))]);
        Assert.Equal(TensorDtype.Float16, request.Tensors[1].Dtype);
        using var json = JsonDocument.Parse(request.Json);
        Assert.Equal("mlp_neuron", json.RootElement.GetProperty("nodeType").GetString());
        Assert.Equal("float16", json.RootElement.GetProperty("writeVector").GetProperty("dtype").GetString());
    }

    [Fact]
    public async Task ARequestWithoutTensorsIsItsJsonAlone()
    {
        var (request, destinations) = await Read(Request("""{"prompt": "In the beginning"}"""), knownLength: true, fields: []);
        Assert.Empty(request.Tensors);
        Assert.Empty(destinations.Buffers);
        Assert.Equal("""{"prompt":"In the beginning"}""", Encoding.UTF8.GetString(request.Json.Span));
    }

    private const string Meta = "\"__metadata__\":{\"request\":\"{}\"}";
    private static readonly byte[] Eight = new byte[8];

    public static TheoryData<string, byte[], bool, string, string> BadBodies() => new()
    {
        { "too short", [1, 0, 0], true, "body", "expected at least 8 bytes" },
        { "header length past the end", Raw("{" + Meta + "}", [], declaredHeaderLength: 1000), true, "body", "header length 1000 runs past the end of the body" },
        { "header length past the end, unknown length", Raw("{" + Meta + "}", [], declaredHeaderLength: 1000), false, "body", "header length 1000 runs past the end of the body" },
        { "header length over 2^63", Raw("{}", [], declaredHeaderLength: ulong.MaxValue), false, "body", "is over the limit" },
        { "header not JSON", Raw("{\"a\" 1}", []), true, "body", "not valid JSON" },
        { "header an array", Raw("[]", []), true, "body", "not a JSON object" },
        { "offsets out of range", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", Eight), true,
            "residual.data_offsets", "[0, 16] is out of range: the body holds 8 bytes of data" },
        { "offsets out of range, unknown length", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", Eight), false,
            "residual.data_offsets", "[0, 16] is out of range: the body ends at byte 8" },
        { "overlapping data", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"writeVector\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", Eight), true,
            "writeVector.data_offsets", "[4, 8] overlaps the data of residual [0, 8]" },
        { "a gap", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", Eight), true,
            "residual.data_offsets", "leaves bytes 0 to 4 unused" },
        { "size not matching the shape", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", Eight), true,
            "residual.data_offsets", "[0, 8] holds 8 bytes; shape [3] of F32 needs 12" },
        { "offsets not a pair", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", Eight), true,
            "residual.data_offsets", "expected [begin, end]" },
        { "negative shape", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", Eight), true,
            "residual.shape", "non-negative integers" },
        { "an unsupported dtype", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", Eight), true,
            "residual.dtype", "unsupported dtype F64: expected F32, F16 or BF16" },
        { "int32 input", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", Eight), true,
            "residual.dtype", "unsupported dtype I32" },
        { "an unknown entry member", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"strides\":[1]}}", Eight), true,
            "residual.strides", "unexpected member" },
        { "a name twice", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"residual\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", Eight), true,
            "residual", "appears twice" },
        { "no metadata", Raw("{\"residual\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", Eight), true,
            "__metadata__.request", "is missing" },
        { "request not JSON", Raw("{\"__metadata__\":{\"request\":\"{layerIndex: 1}\"}}", []), true, "__metadata__.request", "is not valid JSON" },
        { "request not an object", Raw("{\"__metadata__\":{\"request\":\"[1, 2]\"}}", []), true, "__metadata__.request", "expected a JSON object" },
        { "metadata not strings", Raw("{\"__metadata__\":{\"request\":{\"layerIndex\":1}}}", []), true, "__metadata__.request", "expected a string" },
        { "a tensor the request does not have", Request("{}", ("residul", [2])), true, "residul", "not a tensor field of this request (expected residual, writeVector)" },
        { "a tensor also in the JSON", Request("""{"Residual": {"dtype": "float32", "shape": [1], "data": "AAAAAA=="}}""", ("residual", [2])), true,
            "residual", "given both as a tensor and in __metadata__.request" },
        { "bytes after the data", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", Eight), true,
            "body", "4 bytes follow the last tensor's data" },
        { "bytes after the data, unknown length", Raw("{" + Meta + ",\"residual\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", Eight), false,
            "body", "bytes follow the last tensor's data" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task BadFilesAreRefusedNamingTheField(string what, byte[] body, bool knownLength, string field, string message)
    {
        var e = await Assert.ThrowsAsync<SafetensorsException>(() => Read(body, knownLength));
        Assert.True(field == e.Field, $"{what}: field {e.Field}, expected {field} ({e.Message})");
        Assert.True(e.Message.Contains(message, StringComparison.Ordinal), $"{what}: message '{e.Message}' lacks '{message}'");
    }

    [Fact]
    public async Task NoTensorMemoryIsAskedForBeforeTheWholeHeaderIsChecked()
    {
        var asked = 0;
        var body = Request("[]", ("residual", [1024, 768]));
        await Assert.ThrowsAsync<SafetensorsException>(() =>
            SafetensorsRequestReader.ReadAsync(new MemoryStream(body), body.Length, JvpFields, e => { asked++; return new byte[e.ByteLength]; }));
        Assert.Equal(0, asked);
    }

    [Fact]
    public async Task AHeaderOverTheLimitIsRefusedBeforeItIsRead()
    {
        var body = Request("{}", ("residual", [2]));
        var e = await Assert.ThrowsAsync<SafetensorsException>(() =>
            SafetensorsRequestReader.ReadAsync(new MemoryStream(body), body.Length, JvpFields, e => new byte[e.ByteLength], maxHeaderBytes: 16));
        Assert.Equal("body", e.Field);
        Assert.Contains("over the limit of 16 bytes", e.Message);
    }
}
