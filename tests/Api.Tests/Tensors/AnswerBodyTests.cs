using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using ReconService.Api.Pipeline;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;

namespace ReconService.Api.Tests.Tensors;

/// <summary>
/// Answers written in chunks from tensor memory: the JSON they stream is byte for byte what the serializer writes for
/// the same answer, with the length announced before writing; lists of every dtype; a stream that sees small writes.
/// </summary>
public sealed class AnswerBodyTests
{
    private static readonly JsonSerializerOptions Options = Service.Json();

    private static class Service
    {
        public static JsonSerializerOptions Json()
        {
            var options = new JsonOptions();
            options.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;
            options.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals;
            return options.SerializerOptions;
        }
    }

    private static TensorPayload Floats(long[] shape, Func<int, float> value, TensorEncoding encoding = TensorEncoding.Base64, string? name = null)
    {
        var count = (int)shape.Aggregate(1L, (a, b) => a * b);
        var bytes = new byte[count * 4];
        for (var i = 0; i < count; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), value(i));
        return TensorPayload.FromBytes(TensorDtype.Float32, shape, bytes, encoding, name);
    }

    private static TensorPayload Ints(long[] shape, Func<int, int> value, TensorEncoding encoding = TensorEncoding.Base64)
    {
        var count = (int)shape.Aggregate(1L, (a, b) => a * b);
        var bytes = new byte[count * 4];
        for (var i = 0; i < count; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4 * i), value(i));
        return TensorPayload.FromBytes(TensorDtype.Int32, shape, bytes, encoding);
    }

    private static async Task<(byte[] Streamed, long? Length)> Streamed(object response)
    {
        using var body = JsonAnswerBody.Create(response, Options, new AnswerMemory());
        var stream = new MemoryStream();
        await body.WriteToAsync(stream, CancellationToken.None);
        return (stream.ToArray(), body.Length);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(400_000)] // more than one chunk of base64
    public async Task StreamedBase64IsWhatTheSerializerWritesAndAsLongAsAnnounced(int width)
    {
        var response = new ActivationsResponse(Floats([2, width], i => MathF.Sin(i) * 1e3f).WithIndices(Ints([2, width], i => i % 7)));
        var (streamed, length) = await Streamed(response);
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(response, Options), streamed);
        Assert.Equal(streamed.Length, length);
        Assert.Contains("\"activationsIndices\":{\"dtype\":\"int32\"", Encoding.UTF8.GetString(streamed));
    }

    [Fact]
    public async Task StreamedListsAreWhatTheSerializerWritesForEveryDtype()
    {
        var half = new byte[12];
        for (var i = 0; i < 6; i++) BinaryPrimitives.WriteHalfLittleEndian(half.AsSpan(2 * i), (Half)(i - 2.5f));
        var bf16 = new byte[] { 0x80, 0x3f, 0x00, 0xc0, 0x80, 0x7f, 0x80, 0xff };
        var response = new AttentionValuesResponse(
            TensorPayload.FromBytes(TensorDtype.Float16, [2, 3], half, TensorEncoding.List).WithIndices(Ints([2, 3], i => i * 1000 - 2, TensorEncoding.List)),
            TensorPayload.FromBytes(TensorDtype.BFloat16, [2, 1, 2], bf16, TensorEncoding.List));
        var (streamed, length) = await Streamed(response);
        Assert.Null(length); // lists: the length is known once written
        var text = Encoding.UTF8.GetString(streamed);
        Assert.Equal(Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(response, Options)), text);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal("[[-2.5,-1.5,-0.5],[0.5,1.5,2.5]]", doc.RootElement.GetProperty("attention").GetProperty("data").GetRawText());
        Assert.Equal("[[-2,998,1998],[2998,3998,4998]]", doc.RootElement.GetProperty("attentionIndices").GetProperty("data").GetRawText());
        Assert.Equal("[[[1,-2]],[[\"Infinity\",\"-Infinity\"]]]", doc.RootElement.GetProperty("values").GetProperty("data").GetRawText());
    }

    [Fact]
    public async Task ALargeListIsWrittenInSeveralChunksThatJoinIntoOneValue()
    {
        var response = new LogitsResponse(Floats([3, 70_000], i => i % 3 == 0 ? float.NaN : i * 0.5f, TensorEncoding.List));
        var (streamed, _) = await Streamed(response);
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(response, Options), streamed);
    }

    [Fact]
    public async Task TextInTheAnswerCannotBeMistakenForATensorsPlace()
    {
        var response = new ForwardResponse([1, 2], ["\u0001", "a\u0001b\"\\"], ["AQ==", "YQFiIlw="], [[new TokenPrediction(3, "\u0001", -0.5f)]],
            [new CapturedTensor("resid.post_attn", 0, Floats([2, 3], i => i)), new CapturedTensor("logits", null, Floats([2, 2], i => -i))],
            AllowSpecial: false, PrependBos: true);
        var (streamed, length) = await Streamed(response);
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(response, Options), streamed);
        Assert.Equal(streamed.Length, length);
    }

    [Fact]
    public void EmptyAndScalarShapesAreWrittenAsTheirNestedArrays()
    {
        string List(long[] shape) => JsonSerializer.Serialize(Floats(shape, i => i + 1, TensorEncoding.List), Options);
        Assert.Contains("\"data\":[]", List([0]));
        Assert.Contains("\"data\":[[],[]]", List([2, 0]));
        Assert.Contains("\"data\":[]", List([0, 4]));
        Assert.Contains("\"data\":1", List([]));
    }

    [Fact]
    public async Task ACopyForTheCacheHoldsTheSameBytes()
    {
        var response = new ActivationsResponse(Floats([4, 5], i => i));
        using var body = JsonAnswerBody.Create(response, Options, new AnswerMemory());
        using var copy = await EncodedAnswer.CopyAsync(body, CancellationToken.None);
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(response, Options), copy.Body.ToArray());
        Assert.Equal(body.MediaType, copy.MediaType);
    }
}
