namespace ReconService.Api.Limits;

/// <summary>
/// Sets libtorch's intra-op thread count for the calling thread. The count is per thread (libtorch passes it to
/// OpenMP's <c>omp_set_num_threads</c> and MKL's <c>mkl_set_num_threads_local</c>), so it is set on the thread that is
/// about to run a request's tensor work, and only when it differs from what that thread last used.
/// </summary>
public static class IntraOpThreads
{
    [ThreadStatic] private static int _current;

    /// <summary>Makes the calling thread's tensor work use <paramref name="threads"/> intra-op threads (at least 1).</summary>
    public static void Apply(int threads)
    {
        threads = Math.Max(1, threads);
        if (_current == threads) return;
        // libtorch sets a thread's count from the process-wide one the first time the thread asks for it; have that
        // happen now, so it cannot later replace the count set here.
        if (_current == 0) _ = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(threads);
        _current = threads;
    }
}
