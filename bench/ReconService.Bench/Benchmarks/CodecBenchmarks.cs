using System.Buffers;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using ReconService.Api.Tensors;
using ReconService.Engine.Transport;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Bench.Benchmarks;

/// <summary>
/// The tensor codec alone, as the service uses it: <see cref="TensorCodec.Decode"/> of a request payload's base64 into a
/// new tensor, and an answer payload over the tensor's own memory (<see cref="SafetensorsTensors.ToBytes"/>) plus the
/// response's JSON serialization (base64 written by the payload converter) into a reused buffer. Throughput is counted in raw float32 tensor bytes.
/// </summary>
public class CodecBenchmarks
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private TensorPayload _payload = null!;
    private Tensor _tensor = null!;
    private readonly ArrayBufferWriter<byte> _buffer = new();

    /// <summary>Elements along the last axis of <c>[1024, Width]</c>: 768 (a residual, 3 MiB) or 3072 (MLP activations, 12 MiB).</summary>
    [Params(768, 3072)] public int Width { get; set; }

    public long Bytes => 1024L * Width * sizeof(float);

    [GlobalSetup]
    public void Setup()
    {
        _tensor = randn([1024, Width], generator: new Generator(7)).DetachFromDisposeScope();
        var base64 = Encoding.ASCII.GetBytes(Convert.ToBase64String(_tensor.bytes));
        _payload = TensorPayload.FromBase64("float32", [1024, Width], base64);
    }

    [GlobalCleanup]
    public void Cleanup() => _tensor.Dispose();

    [Benchmark(OperationsPerInvoke = 8)]
    public void Decode()
    {
        for (var i = 0; i < 8; i++) TensorCodec.Decode(_payload, "residual").Dispose();
    }

    [Benchmark(OperationsPerInvoke = 8)]
    public void EncodeAndSerialize()
    {
        for (var i = 0; i < 8; i++)
        {
            _buffer.ResetWrittenCount();
            using var writer = new Utf8JsonWriter(_buffer);
            var owners = new List<IDisposable>();
            var bytes = SafetensorsTensors.ToBytes(_tensor, owners);
            JsonSerializer.Serialize(writer, new ActivationsResponse(TensorPayload.FromBytes(bytes.Dtype, bytes.Shape, bytes.Data)), Json);
            owners.ForEach(o => o.Dispose());
        }
    }
}
