using System.Buffers.Binary;
using System.Text.Json;
using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;

namespace ReconService.Engine.Tests.Transport;

/// <summary>Safetensors answers: the file layout, tensor names from JSON paths, the JSON text, and no copy of the values.</summary>
public sealed class SafetensorsAnswerTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>A stand-in for the wire tensor type: values and shape.</summary>
    private sealed record Tensor(float[] Values, long[] Shape);

    private sealed record Answer(Tensor Activations, int[] Tokens, string Note, Tensor? Missing);
    private sealed record Nested(Dictionary<string, Dictionary<string, Tensor>> Scalars, Tensor[] Items, double Loss);

    private static TensorBytes Describe(Tensor t) => TensorBytes.Float32(t.Shape, t.Values);

    private static async Task<byte[]> Written(SafetensorsFile file)
    {
        var stream = new MemoryStream();
        await file.WriteToAsync(stream);
        return stream.ToArray();
    }

    /// <summary>Header entries and metadata of a written file, read independently of the codec.</summary>
    private static (JsonElement Header, byte[] Data) Open(byte[] file)
    {
        var n = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        Assert.Equal(0, n % 8);
        Assert.Equal(file.Length, 8 + n + (file.Length - 8 - n));
        return (JsonDocument.Parse(file.AsMemory(8, n)).RootElement.Clone(), file[(8 + n)..]);
    }

    private static float[] FloatsAt(byte[] data, JsonElement entry)
    {
        var offsets = entry.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt32()).ToArray();
        return Enumerable.Range(0, (offsets[1] - offsets[0]) / 4)
            .Select(i => BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(offsets[0] + 4 * i))).ToArray();
    }

    [Fact]
    public async Task TensorsAreNamedByTheirJsonPathAndTheRestIsTheJsonAnswer()
    {
        var answer = new Answer(new Tensor([1f, 2, 3, 4, 5, 6], [2, 3]), [464, 3139], "ok", null);
        var bytes = await Written(SafetensorsAnswer.Encode<Tensor>(answer, Web, Describe));
        var (header, data) = Open(bytes);
        var json = header.GetProperty("__metadata__").GetProperty("json").GetString()!;
        Assert.Equal("""{"activations":{"tensor":"activations"},"tokens":[464,3139],"note":"ok"}""", json);
        var entry = header.GetProperty("activations");
        Assert.Equal("F32", entry.GetProperty("dtype").GetString());
        Assert.Equal([2, 3], entry.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()));
        Assert.Equal([1f, 2, 3, 4, 5, 6], FloatsAt(data, entry));
        Assert.Equal(24, data.Length);
    }

    [Fact]
    public async Task DictionaryKeysAndArrayIndicesMakeThePath()
    {
        var answer = new Nested(
            new() { ["act_times_grad"] = new() { ["0"] = new Tensor([1f], [1]), ["none"] = new Tensor([2f, 3], [2]) } },
            [new Tensor([4f], [1])], 1.5);
        var (header, data) = Open(await Written(SafetensorsAnswer.Encode<Tensor>(answer, Web, Describe)));
        Assert.Equal([1f], FloatsAt(data, header.GetProperty("scalars/act_times_grad/0")));
        Assert.Equal([2f, 3], FloatsAt(data, header.GetProperty("scalars/act_times_grad/none")));
        Assert.Equal([4f], FloatsAt(data, header.GetProperty("items/0")));
        using var json = JsonDocument.Parse(header.GetProperty("__metadata__").GetProperty("json").GetString()!);
        Assert.Equal("scalars/act_times_grad/none",
            json.RootElement.GetProperty("scalars").GetProperty("act_times_grad").GetProperty("none").GetProperty("tensor").GetString());
        Assert.Equal(1.5, json.RootElement.GetProperty("loss").GetDouble());
    }

    [Fact]
    public void AKeyWithASlashIsRefused()
    {
        var answer = new Nested(new() { ["a/b"] = new() { ["0"] = new Tensor([1f], [1]) } }, [], 0);
        Assert.Throws<InvalidOperationException>(() => SafetensorsAnswer.Encode<Tensor>(answer, Web, Describe));
    }

    [Fact]
    public async Task ValuesAreWrittenFromTheirOwnMemoryWithoutACopy()
    {
        var values = new float[] { 1f, 2f };
        var file = SafetensorsAnswer.Encode<Tensor>(new Answer(new Tensor(values, [2]), [], "", null), Web, Describe);
        values[1] = 42f; // after encoding, before writing: the file reads the array itself
        var (header, data) = Open(await Written(file));
        Assert.Equal([1f, 42f], FloatsAt(data, header.GetProperty("activations")));
    }

    [Fact]
    public async Task TensorsAreLaidOutLargestElementFirstSoEachStartsAligned()
    {
        var file = SafetensorsFile.Create([
            new("half", new TensorBytes(TensorDtype.Float16, [3], new byte[6])),
            new("values", TensorBytes.Float32([2], new float[] { 1f, 2f })),
            new("valuesIndices", TensorBytes.Int32([2], new[] { 7, 9 })),
        ], new Dictionary<string, string> { ["json"] = "{}" });
        var bytes = await Written(file);
        Assert.Equal(file.Length, bytes.Length);
        Assert.Equal(bytes, file.ToArray());
        var (header, data) = Open(bytes);
        Assert.Equal([0, 8], header.GetProperty("values").GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt32()));
        Assert.Equal([8, 16], header.GetProperty("valuesIndices").GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt32()));
        Assert.Equal([16, 22], header.GetProperty("half").GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt32()));
        Assert.Equal("I32", header.GetProperty("valuesIndices").GetProperty("dtype").GetString());
        Assert.Equal(9, BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(12)));
    }

    [Fact]
    public async Task AWrittenFileReadsBackThroughTheRequestReadersHeaderChecks()
    {
        var file = SafetensorsFile.Create([new("residual", TensorBytes.Float32([1, 2], new float[] { 3f, 4f }))],
            new Dictionary<string, string> { ["request"] = """{"layerIndex":0}""" });
        var bytes = await Written(file);
        var request = SafetensorsRequestReader.Read(bytes);
        var residual = request.Tensors["residual"];
        Assert.Equal([1L, 2], residual.Shape);
        Assert.Equal(4f, BinaryPrimitives.ReadSingleLittleEndian(residual.Bytes.Span[4..]));
    }

    /// <summary>The bytes <c>clients/python/tests/test_transport.py</c> decodes (a top-k answer with float16 values), pinned here.</summary>
    [Fact]
    public async Task ATopKAnswerHasTheBytesThePythonClientTestDecodes()
    {
        var answer = new Dictionary<string, object>
        {
            ["activations"] = new TensorBytes(TensorDtype.Float16, [2, 1], new byte[] { 0x00, 0x3e, 0x00, 0xc4 }), // 1.5, -4
            ["activationsIndices"] = TensorBytes.Int32([2, 1], new[] { 7, 0 }),
            ["tokens"] = new[] { 464, 3139 },
        };
        var bytes = await Written(SafetensorsAnswer.Encode<TensorBytes>(answer, Web, t => t));
        Assert.Equal(TopKAnswerFromTheService, Convert.ToBase64String(bytes));
    }

    internal const string TopKAnswerFromTheService =
        "KAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJqc29uIjoie1wiYWN0aXZhdGlvbnNcIjp7XCJ0ZW5zb3JcIjpcImFjdGl2YXRpb25zXCJ9LFwiYWN0aXZhdGlvbnNJbmRpY2VzXCI6e1widGVuc29yXCI6XCJhY3RpdmF0aW9uc0luZGljZXNcIn0sXCJ0b2tlbnNcIjpbNDY0LDMxMzldfSJ9LCJhY3RpdmF0aW9uc0luZGljZXMiOnsiZHR5cGUiOiJJMzIiLCJzaGFwZSI6WzIsMV0sImRhdGFfb2Zmc2V0cyI6WzAsOF19LCJhY3RpdmF0aW9ucyI6eyJkdHlwZSI6IkYxNiIsInNoYXBlIjpbMiwxXSwiZGF0YV9vZmZzZXRzIjpbOCwxMl19fSAgIAcAAAAAAAAAAD4AxA==";

    [Fact]
    public void DuplicateOrReservedNamesAndWrongSizesAreProgrammingErrors()
    {
        var t = TensorBytes.Float32([1], new float[] { 1f });
        Assert.Throws<ArgumentException>(() => SafetensorsFile.Create([new("a", t), new("a", t)]));
        Assert.Throws<ArgumentException>(() => SafetensorsFile.Create([new("__metadata__", t)]));
        Assert.Throws<ArgumentException>(() => new TensorBytes(TensorDtype.Float32, [3], new byte[8]));
    }
}
