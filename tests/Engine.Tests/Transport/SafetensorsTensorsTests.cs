using System.Buffers.Binary;
using System.Text.Json;
using ReconService.Engine.Reduction;
using ReconService.Engine.Transport;
using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;
using ReconService.Models.Wire;
using TorchSharp;
using static ReconService.Engine.Tests.Transport.SafetensorsBodies;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Transport;

/// <summary>The TorchSharp side of safetensors: answers from tensor storage, requests into tensor storage.</summary>
[Collection(Serial.Name)]
public sealed class SafetensorsTensorsTests
{
    private static float[] Floats(ReadOnlySpan<byte> bytes)
    {
        var values = new float[bytes.Length / 4];
        for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
        return values;
    }

    [Fact]
    public void AnswerBytesAreTheTensorsOwnStorage()
    {
        using var scope = NewDisposeScope();
        var t = arange(6, dtype: ScalarType.Float32).reshape(2, 3);
        var owners = new List<IDisposable>();
        var bytes = SafetensorsTensors.ToBytes(t, owners);
        Assert.Equal(TensorDtype.Float32, bytes.Dtype);
        Assert.Equal([2L, 3], bytes.Shape);
        t[0, 1] = tensor(42f); // written in place after encoding: the bytes are the same memory
        Assert.Equal([0f, 42, 2, 3, 4, 5], Floats(bytes.Data.Span));
        var memory = Assert.IsType<TensorByteMemory>(Assert.Single(owners));
        ((IDisposable)memory).Dispose();
        Assert.Throws<ObjectDisposedException>(() => memory.GetSpan());
    }

    [Fact]
    public void NonContiguousTensorsAreWrittenRowMajor()
    {
        using var scope = NewDisposeScope();
        var t = arange(6, dtype: ScalarType.Float32).reshape(2, 3).t(); // [3, 2]: 0 3 / 1 4 / 2 5
        var owners = new List<IDisposable>();
        var bytes = SafetensorsTensors.ToBytes(t, owners);
        Assert.Equal([3L, 2], bytes.Shape);
        Assert.Equal([0f, 3, 1, 4, 2, 5], Floats(bytes.Data.Span));
        owners.ForEach(o => o.Dispose());
    }

    [Fact]
    public void OnlyTheDtypesThatTravelAreWritten()
    {
        using var scope = NewDisposeScope();
        var owners = new List<IDisposable>();
        Assert.Equal(TensorDtype.Int32, SafetensorsTensors.ToBytes(tensor(new[] { 1, 2 }), owners).Dtype);
        Assert.Equal(TensorDtype.Float16, SafetensorsTensors.ToBytes(ones(3, dtype: ScalarType.Float16), owners).Dtype);
        Assert.Equal(TensorDtype.BFloat16, SafetensorsTensors.ToBytes(ones(3, dtype: ScalarType.BFloat16), owners).Dtype);
        Assert.Throws<ArgumentException>(() => SafetensorsTensors.ToBytes(ones(3, dtype: ScalarType.Float64), owners));
        owners.ForEach(o => o.Dispose());
    }

    /// <summary>An answer record holding engine tensors directly: the encode step needs no JSON converter for them.</summary>
    private sealed record TopKAnswer(Tensor Activations, Tensor? ActivationsIndices);

    [Fact]
    public async Task AReducedAnswerTravelsAsValuesAndInt32Indices()
    {
        using var scope = NewDisposeScope();
        var activations = tensor(new[] { 0.5f, -3f, 2f, 1f, 4f, 0f }).reshape(2, 3);
        var reduced = OutputReduction.From(new OutputSpec { TopK = 2, By = TopKBy.Abs, Dtype = OutputDtype.Float16 })
            .Apply("activations", activations, 0);
        var owners = new List<IDisposable>();
        var file = SafetensorsAnswer.Encode<Tensor>(new TopKAnswer(reduced.Values, reduced.Indices),
            new JsonSerializerOptions(JsonSerializerDefaults.Web), t => SafetensorsTensors.ToBytes(t, owners));
        var stream = new MemoryStream();
        await file.WriteToAsync(stream);
        owners.ForEach(o => o.Dispose());

        var bytes = stream.ToArray();
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, n));
        Assert.Equal("F16", header.RootElement.GetProperty("activations").GetProperty("dtype").GetString());
        Assert.Equal("I32", header.RootElement.GetProperty("activationsIndices").GetProperty("dtype").GetString());
        Assert.Equal("""{"activations":{"tensor":"activations"},"activationsIndices":{"tensor":"activationsIndices"}}""",
            header.RootElement.GetProperty("__metadata__").GetProperty("json").GetString());
        var indicesAt = header.RootElement.GetProperty("activationsIndices").GetProperty("data_offsets")[0].GetInt32();
        var valuesAt = header.RootElement.GetProperty("activations").GetProperty("data_offsets")[0].GetInt32();
        var data = bytes[(8 + n)..];
        Assert.Equal([1, 2, 1, 0], Enumerable.Range(0, 4).Select(i => BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(indicesAt + 4 * i))));
        Assert.Equal([-3f, 2f, 4f, 1f], Enumerable.Range(0, 4).Select(i => (float)BinaryPrimitives.ReadHalfLittleEndian(data.AsSpan(valuesAt + 2 * i))));
    }

    private static long Settled()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Tensor.TotalCount;
    }
}
