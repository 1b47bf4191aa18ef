using System.Runtime.InteropServices;
using ReconService.Bench.Benchmarks;
using static TorchSharp.torch;

namespace ReconService.Bench;

/// <summary>
/// <c>--probe-threads</c>: the thread counts MKL and OpenMP would use on the main thread, on thread-pool threads and on
/// a new thread, before and after an engine call there (MKL's count is per thread: <c>mkl_set_num_threads_local</c>).
/// </summary>
internal static class ThreadProbe
{
    [DllImport("libtorch_cpu", EntryPoint = "mkl_get_max_threads")]
    private static extern int MklMaxThreads();

    [DllImport("libgomp-98b21ff3.so.1", EntryPoint = "omp_get_max_threads")]
    private static extern int OmpMaxThreads();

    private static string Counts() => $"MKL {MklMaxThreads()}, OpenMP {OmpMaxThreads()}, torch {get_num_threads()}";

    public static void Run()
    {
        var engine = BenchFixture.Engine;
        using var x = randn([64, 768]);
        void Report(string where)
        {
            var before = Counts();
            engine.Activations(x, Workload.MlpPost).Dispose();
            Console.WriteLine($"{where,-24} before a call: {before}; after: {Counts()}");
        }
        Report("main thread");
        for (var i = 0; i < 3; i++) Task.Run(() => Report($"thread-pool thread {Environment.CurrentManagedThreadId}")).Wait();
        var thread = new Thread(() => Report("new thread"));
        thread.Start();
        thread.Join();

        // One request alone, then two at once on two thread-pool threads, and two at once on two new threads, at 256 tokens.
        using var r = randn([256, 768]);
        void Request() => engine.Activations(r, Workload.MlpPost).Dispose();
        foreach (var threads in new[] { 1, 2, 1, 2 })
        {
            set_num_threads(threads);
            double MedianMs(Action action)
            {
                for (var i = 0; i < 3; i++) action();
                var times = new List<double>();
                for (var i = 0; i < 15; i++)
                {
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    action();
                    times.Add(sw.Elapsed.TotalMilliseconds);
                }
                return Workload.Median(times);
            }
            var one = MedianMs(() => Task.Run(Request).Wait());
            var twoPool = MedianMs(() => Task.WaitAll(Task.Run(Request), Task.Run(Request)));
            var twoNew = MedianMs(() =>
            {
                var other = new Thread(Request);
                other.Start();
                Request();
                other.Join();
            });
            Console.WriteLine($"intra-op {threads}: one request {one:F1} ms; two at once on pool threads {twoPool:F1} ms; main + a new thread {twoNew:F1} ms");
        }
    }
}
