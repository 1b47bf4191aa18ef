namespace ReconService.Api.Limits;

/// <summary>
/// Sets libtorch's intra-op thread count for the calling thread. The count is per thread (libtorch passes it to
/// OpenMP's <c>omp_set_num_threads</c> and MKL's <c>mkl_set_num_threads_local</c>), so it is set on the thread that is
/// about to run a request's tensor work, and only when it differs from the count that thread has now.
/// </summary>
public static class IntraOpThreads
{
    /// <summary>Makes the calling thread's tensor work use <paramref name="threads"/> intra-op threads (at least 1).</summary>
    public static void Apply(int threads)
    {
        threads = Math.Max(1, threads);
        // Compared with the thread's actual count, not a value remembered here: other code sets it too (the engine
        // loader sets 1 on its pool thread). Reading it also makes libtorch initialise a new thread's count from the
        // process-wide one now, so that cannot later replace the count set here.
        if (TorchSharp.torch.get_num_threads() == threads) return;
        TorchSharp.torch.set_num_threads(threads);
    }
}
