using BenchmarkDotNet.Attributes;
using ReconService.Engine;
using static TorchSharp.torch;

namespace ReconService.Bench.Benchmarks;

/// <summary>
/// Intra-op threads for a server: one MLP-post request at 256 tokens alone, and two at once on their own threads,
/// with libtorch's intra-op pool at 1 or 2 threads.
/// </summary>
public class ConcurrencyBenchmarks
{
    private ReconstitutionEngine _engine = null!;
    private Tensor _residual = null!;

    [Params(1, 2)] public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _engine = BenchFixture.Engine;
        set_num_threads(Threads);
        _residual = randn([256, 768], generator: new Generator(42)).DetachFromDisposeScope();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _residual.Dispose();
        set_num_threads(BenchFixture.Threads);
    }

    [Benchmark] public void OneRequest() => Request();

    [Benchmark]
    public void TwoConcurrentRequests()
    {
        var other = new Thread(Request);
        other.Start();
        Request();
        other.Join();
    }

    private void Request() => _engine.Activations(_residual, Workload.MlpPost).Dispose();
}
