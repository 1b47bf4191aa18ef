using BenchmarkDotNet.Attributes;
using static TorchSharp.torch;

namespace ReconService.Bench.Benchmarks;

/// <summary>The machine's practical limit: a plain float32 <c>[1024, 768] x [768, 3072]</c> matmul.</summary>
public class MachineBenchmarks
{
    public const double MatmulFlops = 2.0 * 1024 * 768 * 3072;
    private Tensor _a = null!, _b = null!;

    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(BenchFixture.Threads);
        _a = randn(1024, 768).DetachFromDisposeScope();
        _b = randn(768, 3072).DetachFromDisposeScope();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a.Dispose();
        _b.Dispose();
    }

    // Several products per invocation: one is ~50 ms, short enough for scheduler noise to dominate a single sample.
    [Benchmark(OperationsPerInvoke = 8)]
    public void Matmul()
    {
        for (var i = 0; i < 8; i++) matmul(_a, _b).Dispose();
    }
}
