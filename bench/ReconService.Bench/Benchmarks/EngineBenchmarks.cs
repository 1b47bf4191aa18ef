using BenchmarkDotNet.Attributes;
using ReconService.Engine;
using static TorchSharp.torch;

namespace ReconService.Bench.Benchmarks;

/// <summary>The engine called in-process, one request per invocation.</summary>
// Three warm-up calls per case, in-process and over HTTP alike: the first calls at a new size touch fresh memory
// (request and answer buffers, allocator arenas, pools), which a long-running service has already paid for.
[WarmupCount(3)]
public class EngineBenchmarks
{
    private ReconstitutionEngine _engine = null!;
    private Tensor _residual = null!, _write = null!;
    private long[] _index = [];

    [ParamsSource(nameof(TokenValues))] public int Tokens { get; set; }
    [ParamsSource(nameof(BatchValues))] public int Batch { get; set; }

    public static IEnumerable<int> TokenValues => Workload.Tokens;
    public static IEnumerable<int> BatchValues => Workload.Batches;

    [GlobalSetup]
    public void Setup()
    {
        _engine = BenchFixture.Engine;
        set_num_threads(BenchFixture.Threads);
        (_residual, _write) = Workload.RandomInputs(Tokens, Batch);
        _index = [Tokens - 1, 7];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _residual.Dispose();
        _write.Dispose();
    }

    [Benchmark] public void AttentionPre() => _engine.Activations(_residual, Workload.AttnPre).Dispose();
    [Benchmark] public void AttentionPost() => _engine.Activations(_residual, Workload.AttnPost).Dispose();
    [Benchmark] public void MlpPost() => _engine.Activations(_residual, Workload.MlpPost).Dispose();
    [Benchmark] public void AutoencoderPost() => _engine.Activations(_residual, Workload.AePost).Dispose();
    [Benchmark] public void MlpPostGradient() => _engine.Gradient(_residual, Workload.MlpPost, _index).Dispose();
    [Benchmark] public void MlpPostJvp() => _engine.Jvp(_residual, Workload.MlpPost, _write).Dispose();
    [Benchmark] public void AttentionPostGradient() => _engine.Gradient(_residual, Workload.AttnPost, [Tokens - 1, 0, 3]).Dispose();
    [Benchmark] public void AttentionPostJvp() => _engine.Jvp(_residual, Workload.AttnPost, _write).Dispose();
    [Benchmark] public void Logprobs() => _engine.Logprobs(_residual).Dispose();
}
