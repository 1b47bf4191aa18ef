using System.Text.Json;
using ReconService.Api.Errors;
using ReconService.Api.Tensors;
using ReconService.Api.Tests.Infrastructure;
using ReconService.Models.Tensors;
using TorchSharp;

namespace ReconService.Api.Tests.Tensors;

public sealed class TensorPayloadTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public void Base64PayloadDecodesIntoATensorWithTheSameValues()
    {
        float[] values = [1.5f, -2.25f, 0f, 3e-8f, float.MaxValue, -0.0f];
        var json = Wire.Tensor([2, 3], values).ToJsonString();
        var payload = JsonSerializer.Deserialize<TensorPayload>(json, Json)!;
        using var tensor = TensorCodec.Decode(payload, "residual");
        Assert.Equal([2L, 3L], tensor.shape);
        Assert.Equal(torch.ScalarType.Float32, tensor.dtype);
        Assert.Equal(values, tensor.data<float>().ToArray());
    }

    [Fact]
    public void EscapedBase64IsUnescapedBeforeDecoding()
    {
        // '+' and '/' may arrive as \u002B and \u002F; the decoded values must not change.
        var bytes = new byte[12];
        for (var i = 0; i < bytes.Length; i++) bytes[i] = (byte)(0xFB + i);
        var base64 = Convert.ToBase64String(bytes);
        Assert.Contains('+', base64 + "/");
        var escaped = base64.Replace("+", "\\u002B").Replace("/", "\\u002F");
        var payload = JsonSerializer.Deserialize<TensorPayload>($"{{\"dtype\":\"float32\",\"shape\":[3],\"data\":\"{escaped}\"}}", Json)!;
        var decoded = new byte[12];
        Assert.Null(payload.TryDecodeTo(decoded));
        Assert.Equal(bytes, decoded);
    }

    [Fact]
    public void ListEncodingWritesNestedArraysAndNamedNonFiniteValues()
    {
        var payload = TensorPayload.FromValues([2, 2], new[] { 1f, float.NegativeInfinity, float.NaN, float.PositiveInfinity }, TensorEncoding.List);
        var json = JsonSerializer.Serialize(payload, Json);
        using var doc = JsonDocument.Parse(json);
        var data = doc.RootElement.GetProperty("data");
        Assert.Equal(JsonValueKind.Array, data.ValueKind);
        Assert.Equal(1f, data[0][0].GetSingle());
        Assert.Equal("-Infinity", data[0][1].GetString());
        Assert.Equal("NaN", data[1][0].GetString());
        Assert.Equal("Infinity", data[1][1].GetString());
    }

    [Fact]
    public void ListInputRoundTripsThroughTheCodec()
    {
        var payload = JsonSerializer.Deserialize<TensorPayload>("{\"shape\":[2,2],\"data\":[[1,2],[\"-Infinity\",4.5]]}", Json)!;
        using var tensor = TensorCodec.Decode(payload, "residual");
        Assert.Equal(new[] { 1f, 2f, float.NegativeInfinity, 4.5f }, tensor.data<float>().ToArray());
    }

    [Fact]
    public void Base64EncodingRoundTripsThroughTheCodec()
    {
        var bytes = Enumerable.Range(0, 24).SelectMany(i => BitConverter.GetBytes((float)i)).ToArray();
        var payload = TensorPayload.FromBytes(TensorDtype.Float32, [2, 3, 4], bytes);
        var json = JsonSerializer.Serialize(payload, Json);
        var (shape, values) = Wire.ReadTensor(JsonDocument.Parse(json).RootElement);
        Assert.Equal([2L, 3L, 4L], shape);
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (float)i), values);
    }

    [Fact]
    public void Float16InputIsWidenedToFloat32()
    {
        var halves = new[] { (Half)1.5, (Half)(-3), (Half)0.25 };
        var bytes = new byte[6];
        for (var i = 0; i < 3; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), halves[i]);
        var payload = JsonSerializer.Deserialize<TensorPayload>($"{{\"dtype\":\"float16\",\"shape\":[3],\"data\":\"{Convert.ToBase64String(bytes)}\"}}", Json)!;
        using var tensor = TensorCodec.Decode(payload, "residual");
        Assert.Equal(torch.ScalarType.Float32, tensor.dtype);
        Assert.Equal(new[] { 1.5f, -3f, 0.25f }, tensor.data<float>().ToArray());
    }

    [Fact]
    public void DataShorterThanTheShapeIsRejectedNamingTheDataField()
    {
        var payload = JsonSerializer.Deserialize<TensorPayload>(Wire.Tensor([2, 3], new float[5]).ToJsonString(), Json)!;
        var error = Assert.Throws<ProblemException>(() => TensorCodec.Decode(payload, "residual"));
        Assert.Equal("residual.data", error.Field);
        Assert.Contains("24", error.Message);
    }

    [Fact]
    public void InvalidBase64CharactersAreRejected()
    {
        var payload = JsonSerializer.Deserialize<TensorPayload>("{\"dtype\":\"float32\",\"shape\":[2],\"data\":\"AAAA*AAAAAA=\"}", Json)!;
        var error = Assert.Throws<ProblemException>(() => TensorCodec.Decode(payload, "writeVector"));
        Assert.Equal("writeVector.data", error.Field);
        Assert.Equal(400, error.Status);
    }

    [Theory]
    [InlineData("{\"dtype\":\"int8\",\"shape\":[1],\"data\":\"AA==\"}", "dtype")]
    [InlineData("{\"dtype\":\"float32\",\"shape\":[-1],\"data\":\"\"}", "shape")]
    [InlineData("{\"dtype\":\"float32\",\"data\":\"AAAAAA==\"}", "shape")]
    [InlineData("{\"dtype\":\"float32\",\"shape\":[1]}", "data")]
    [InlineData("{\"dtype\":\"float32\",\"shape\":[1],\"data\":[\"one\"]}", "data")]
    [InlineData("{\"dtype\":\"float32\",\"shape\":[3],\"data\":[1,2]}", "data")]
    public void MalformedPayloadsNameTheMemberAtFault(string json, string member)
    {
        var error = Assert.Throws<TensorPayloadException>(() => JsonSerializer.Deserialize<TensorPayload>(json, Json));
        Assert.Equal(member, error.Member);
    }
}
