using BenchmarkDotNet.Attributes;
using static TorchSharp.torch;

namespace ReconService.Bench.Benchmarks;

/// <summary>
/// The machine's practical limit next to MLP post at 1024 tokens, measured back to back in one class (same threads,
/// same moment): a plain float32 <c>[1024, 768] x [768, 3072]</c> matmul, the same product with the weight stored
/// <c>[3072, 768]</c> as <c>nn.functional.linear</c> (the engine's layout), and the engine's MLP post itself.
/// </summary>
public class MachineBenchmarks
{
    /// <summary>FLOPs of one <c>[1024, 768] x [768, 3072]</c> product (a multiply-add counted as 2).</summary>
    public const double MatmulFlops = 2.0 * 1024 * 768 * 3072;

    private Tensor _a = null!, _b = null!, _bt = null!, _residual = null!;

    [GlobalSetup]
    public void Setup()
    {
        set_num_threads(BenchFixture.Threads);
        _a = randn(1024, 768).DetachFromDisposeScope();
        _b = randn(768, 3072).DetachFromDisposeScope();
        _bt = _b.t().contiguous().DetachFromDisposeScope();
        _residual = randn([1024, 768], generator: new Generator(42)).DetachFromDisposeScope();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a.Dispose();
        _b.Dispose();
        _bt.Dispose();
        _residual.Dispose();
    }

    // Several products per invocation: one is ~50 ms, short enough for scheduler noise to dominate a single sample.
    [Benchmark(OperationsPerInvoke = 4)]
    public void Matmul()
    {
        for (var i = 0; i < 4; i++) matmul(_a, _b).Dispose();
    }

    [Benchmark(OperationsPerInvoke = 4)]
    public void Linear()
    {
        for (var i = 0; i < 4; i++) nn.functional.linear(_a, _bt).Dispose();
    }

    [Benchmark(OperationsPerInvoke = 4)]
    public void MlpPost1024()
    {
        for (var i = 0; i < 4; i++) BenchFixture.Engine.Activations(_residual, Workload.MlpPost).Dispose();
    }
}
