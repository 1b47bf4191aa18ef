using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using ReconService.Engine;
using static TorchSharp.torch;

namespace ReconService.Bench.Benchmarks;

/// <summary>
/// Intra-op threads for a server: one MLP-post request at 256 tokens alone, and two at once, each on its own long-lived
/// worker thread (as a server's requests run on pool threads), with libtorch's intra-op pool at 1 or 2 threads. The count
/// is set on each worker itself: MKL's and OpenMP's thread counts are per thread, and a thread keeps the count it first ran with.
/// </summary>
[WarmupCount(3)]
public class ConcurrencyBenchmarks
{
    private ReconstitutionEngine _engine = null!;
    private Tensor _residual = null!;
    private Worker[] _workers = [];

    [Params(1, 2)] public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _engine = BenchFixture.Engine;
        _residual = randn([256, 768], generator: new Generator(42)).DetachFromDisposeScope();
        _workers = [new Worker(Threads), new Worker(Threads)];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var worker in _workers) worker.Dispose();
        _residual.Dispose();
    }

    [Benchmark] public void OneRequest() => _workers[0].Run(Request).Wait();

    [Benchmark]
    public void TwoConcurrentRequests() => Task.WaitAll(_workers[0].Run(Request), _workers[1].Run(Request));

    private void Request() => _engine.Activations(_residual, Workload.MlpPost).Dispose();

    /// <summary>A thread that sets its intra-op thread count once and then runs the work it is given.</summary>
    private sealed class Worker : IDisposable
    {
        private readonly BlockingCollection<(Action Work, TaskCompletionSource Done)> _queue = [];
        private readonly Thread _thread;

        public Worker(int threads)
        {
            _thread = new Thread(() =>
            {
                set_num_threads(threads);
                foreach (var (work, done) in _queue.GetConsumingEnumerable())
                {
                    try { work(); done.SetResult(); }
                    catch (Exception e) { done.SetException(e); }
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public Task Run(Action work)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _queue.Add((work, done));
            return done.Task;
        }

        public void Dispose()
        {
            _queue.CompleteAdding();
            _thread.Join();
            set_num_threads(BenchFixture.Threads);
        }
    }
}
