using Microsoft.Extensions.Options;
using ReconService.Api.Limits;
using TorchSharp;

namespace ReconService.Api.Tests.Limits;

/// <summary>The intra-op thread count each request's tensor work runs with.</summary>
public sealed class IntraOpThreadsTests
{
    private static EngineQueue Queue(int intraOpThreads, int concurrency = 4) =>
        new(Options.Create(new QueueOptions { Concurrency = concurrency, Length = 8, IntraOpThreads = intraOpThreads }),
            Options.Create(new ReconService.Api.Configuration.LimitsOptions { MaxEngineMemoryBytes = 1L << 40 }));

    [Fact]
    public async Task PerRequestChoiceDividesTheCoresAmongTheRunningRequests()
    {
        var queue = Queue(intraOpThreads: 0);
        var cores = Environment.ProcessorCount;
        // A request that has just taken its slot counts itself.
        using var first = await queue.EnterAsync(0, CancellationToken.None);
        Assert.Equal(cores, queue.ThreadsForThisRequest());
        using var second = await queue.EnterAsync(0, CancellationToken.None);
        Assert.Equal(Math.Max(1, cores / 2), queue.ThreadsForThisRequest());
        using var third = await queue.EnterAsync(0, CancellationToken.None);
        using var fourth = await queue.EnterAsync(0, CancellationToken.None);
        Assert.Equal(Math.Max(1, cores / 4), queue.ThreadsForThisRequest());
    }

    [Fact]
    public async Task AFixedCountIsUsedWhateverRuns()
    {
        var queue = Queue(intraOpThreads: 3);
        Assert.Equal(3, queue.ThreadsForThisRequest());
        using var lease = await queue.EnterAsync(0, CancellationToken.None);
        using var other = await queue.EnterAsync(0, CancellationToken.None);
        Assert.Equal(3, queue.ThreadsForThisRequest());
    }

    [Fact]
    public async Task TheCountIsSetOnTheThreadThatRunsTheWork()
    {
        // Each thread keeps its own count: one thread sets 2, then another sets 1, then the first reads its count again.
        var firstSet = new TaskCompletionSource();
        var secondSet = new TaskCompletionSource();
        var first = Task.Factory.StartNew(() =>
        {
            IntraOpThreads.Apply(2);
            firstSet.SetResult();
            secondSet.Task.Wait();
            return torch.get_num_threads();
        }, TaskCreationOptions.LongRunning);
        await firstSet.Task;
        var second = await Task.Factory.StartNew(() =>
        {
            IntraOpThreads.Apply(1);
            return torch.get_num_threads();
        }, TaskCreationOptions.LongRunning);
        secondSet.SetResult();
        Assert.Equal(1, second);
        Assert.Equal(2, await first);
    }

    [Fact]
    public async Task ACountSetOnTheThreadOutsideApplyIsReplaced()
    {
        // EngineStartupService sets 1 on the pool thread that loads an engine; in a process with several hosts (tests,
        // the in-process benchmarks) that thread may already have run a request with another count.
        var seen = await Task.Factory.StartNew(() =>
        {
            IntraOpThreads.Apply(2);
            torch.set_num_threads(1);
            IntraOpThreads.Apply(2);
            return torch.get_num_threads();
        }, TaskCreationOptions.LongRunning);
        Assert.Equal(2, seen);
    }
}
