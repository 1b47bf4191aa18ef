using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Errors;
using ReconService.Api.Limits;

namespace ReconService.Api.Tests.Limits;

/// <summary>The engine queue: first come, first served, under both the slot count and the memory budget.</summary>
public sealed class EngineQueueTests
{
    private static EngineQueue Queue(long budget, int concurrency = 4, int length = 8, int timeoutSeconds = 60) =>
        new(Options.Create(new QueueOptions { Concurrency = concurrency, Length = length, TimeoutSeconds = timeoutSeconds }),
            Options.Create(new LimitsOptions { MaxEngineMemoryBytes = budget }));

    [Fact]
    public async Task ASmallRequestDoesNotOvertakeALargerOneWaitingBeforeIt()
    {
        var queue = Queue(budget: 100);
        var a = await queue.EnterAsync(60, CancellationToken.None);
        var b = queue.EnterAsync(60, CancellationToken.None).AsTask();
        var c = queue.EnterAsync(10, CancellationToken.None).AsTask(); // would fit beside a, but b came first
        await Task.Delay(100);
        Assert.False(b.IsCompleted);
        Assert.False(c.IsCompleted);
        Assert.Equal((1, 2, 60L), (queue.Statistics().Running, queue.Statistics().Queued, queue.Statistics().ReservedBytes));

        a.Dispose();
        using var bLease = await b;
        using var cLease = await c;
        Assert.Equal((2, 0, 70L, 70L), (queue.Statistics().Running, queue.Statistics().Queued, queue.Statistics().ReservedBytes,
            queue.Statistics().ReservedBytesPeak));
    }

    [Fact]
    public async Task AFullQueueIsA429AndALongWaitA503BothWithRetryAfter()
    {
        var queue = Queue(budget: 100, concurrency: 1, length: 1, timeoutSeconds: 1);
        using var running = await queue.EnterAsync(1, CancellationToken.None);
        var waiting = queue.EnterAsync(1, CancellationToken.None).AsTask();
        var full = await Assert.ThrowsAsync<ProblemException>(async () => await queue.EnterAsync(1, CancellationToken.None));
        Assert.Equal((429, "queue"), (full.Status, full.Field));
        Assert.True(full.Headers.ContainsKey("Retry-After"));
        var late = await Assert.ThrowsAsync<ProblemException>(() => waiting);
        Assert.Equal(503, late.Status);
        Assert.Equal((1L, 1L), (queue.Statistics().Rejected, queue.Statistics().TimedOut));
    }

    [Fact]
    public async Task AClientThatLeavesGivesUpItsPlace()
    {
        var queue = Queue(budget: 100, concurrency: 1);
        using var running = await queue.EnterAsync(1, CancellationToken.None);
        using var leaving = new CancellationTokenSource();
        var waiting = queue.EnterAsync(1, leaving.Token).AsTask();
        leaving.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal((0, 1L), (queue.Statistics().Queued, queue.Statistics().Abandoned));
    }

    [Fact]
    public async Task AnAnswerBeingWrittenKeepsItsMemoryInTheBudgetButGivesBackTheSlot()
    {
        var queue = Queue(budget: 100, concurrency: 1);
        var run = await queue.EnterAsync(80, CancellationToken.None);
        var next = queue.EnterAsync(50, CancellationToken.None).AsTask();
        run.KeepForAnswer(30); // the run is over; its answer holds 30 until written
        using var nextLease = await next;
        Assert.Equal((1, 80L, 80L), (queue.Statistics().Running, queue.Statistics().ReservedBytes, run.Bytes + nextLease.Bytes));
        var third = queue.EnterAsync(30, CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(third.IsCompleted); // 80 + 30 > 100, and the slot is taken: waits for the answer's memory and the slot

        run.KeepForAnswer(0); // only once: the slot was given back already
        Assert.Equal(80L, queue.Statistics().ReservedBytes);
        run.Dispose(); // the answer is written
        run.Dispose();
        Assert.Equal((1, 50L), (queue.Statistics().Running, queue.Statistics().ReservedBytes));
        nextLease.Dispose();
        using var thirdLease = await third;
        Assert.Equal((1, 30L), (queue.Statistics().Running, queue.Statistics().ReservedBytes));
    }

    [Fact]
    public async Task AnAnswerLargerThanItsPlanKeepsWhatWasReserved()
    {
        var queue = Queue(budget: 100);
        var lease = await queue.EnterAsync(40, CancellationToken.None);
        lease.KeepForAnswer(1000);
        Assert.Equal((0, 40L), (queue.Statistics().Running, queue.Statistics().ReservedBytes));
        lease.Dispose();
        Assert.Equal((0, 0L), (queue.Statistics().Running, queue.Statistics().ReservedBytes));
    }
}
