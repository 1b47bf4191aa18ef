using System.Diagnostics;
using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Diagnostics;
using ReconService.Api.Errors;

namespace ReconService.Api.Limits;

/// <summary>
/// The bounded FIFO queue in front of the engine, with a memory budget: a request runs once it is first in line, one
/// of <see cref="QueueOptions.Concurrency"/> slots is free and its planned working memory fits in what
/// <see cref="LimitsOptions.MaxEngineMemoryBytes"/> leaves beside the requests already running. Up to
/// <see cref="QueueOptions.Length"/> wait (oldest first, so a large request is not overtaken forever); beyond, 429
/// with <c>Retry-After</c>. A wait ends with the client (<c>RequestAborted</c>) or after
/// <see cref="QueueOptions.TimeoutSeconds"/> (503 with <c>Retry-After</c>). Each wait is recorded in
/// <see cref="ReconMetrics"/> with its outcome.
/// </summary>
public sealed class EngineQueue
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _waiting = new();
    private int _running;
    private long _reservedBytes, _reservedPeak, _admitted, _rejected, _timedOut, _abandoned;
    private readonly ReconMetrics? _metrics;

    /// <summary>The queue with <c>Queue</c>'s limits and <c>Limits:MaxEngineMemoryBytes</c>; waits recorded in <paramref name="metrics"/> when given.</summary>
    public EngineQueue(IOptions<QueueOptions> options, IOptions<LimitsOptions> limits, ReconMetrics? metrics = null)
    {
        Options = options.Value;
        BudgetBytes = limits.Value.EngineMemoryBudgetBytes;
        _metrics = metrics;
    }

    /// <summary>The configured limits.</summary>
    public QueueOptions Options { get; }

    /// <summary>Working memory the requests running at once may plan in total, in bytes.</summary>
    public long BudgetBytes { get; }

    /// <summary>Counts for <c>/v1/metrics</c>.</summary>
    public QueueStatistics Statistics()
    {
        lock (_lock)
            return new QueueStatistics(Options.Concurrency, Options.Length, _running, _waiting.Count, _admitted, _rejected, _timedOut, _abandoned,
                _reservedBytes, _reservedPeak, BudgetBytes);
    }

    /// <summary>
    /// Waits for a slot and <paramref name="workingMemoryBytes"/> of the budget; dispose the lease to give both back
    /// (or <see cref="EngineLease.KeepForAnswer"/> first, to give back the slot and keep only the answer's memory).
    /// </summary>
    /// <exception cref="ProblemException">429 when the queue is full; 503 after <see cref="QueueOptions.TimeoutSeconds"/>.</exception>
    /// <exception cref="OperationCanceledException">The client left while waiting.</exception>
    public async ValueTask<EngineLease> EnterAsync(long workingMemoryBytes, CancellationToken requestAborted)
    {
        var arrived = Stopwatch.GetTimestamp();
        Waiter waiter;
        LinkedListNode<Waiter> node;
        lock (_lock)
        {
            if (_waiting.Count == 0 && Fits(workingMemoryBytes))
            {
                _metrics?.RecordQueueWait(Stopwatch.GetElapsedTime(arrived), ReconMetrics.QueueOutcome.Admitted);
                return Grant(workingMemoryBytes);
            }
            if (_waiting.Count >= Options.Length)
            {
                _rejected++;
                _metrics?.RecordQueueWait(Stopwatch.GetElapsedTime(arrived), ReconMetrics.QueueOutcome.Rejected);
                throw Busy(StatusCodes.Status429TooManyRequests,
                    $"the engine queue is full ({Options.Concurrency} running, {Options.Length} waiting; Queue:Concurrency, Queue:Length); retry later");
            }
            waiter = new Waiter(workingMemoryBytes);
            node = _waiting.AddLast(waiter);
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        deadline.CancelAfter(TimeSpan.FromSeconds(Options.TimeoutSeconds));
        try
        {
            var lease = await waiter.Granted.Task.WaitAsync(deadline.Token);
            _metrics?.RecordQueueWait(Stopwatch.GetElapsedTime(arrived), ReconMetrics.QueueOutcome.Admitted);
            return lease;
        }
        catch (OperationCanceledException)
        {
            lock (_lock)
            {
                if (node.List is not null) _waiting.Remove(node);
                if (requestAborted.IsCancellationRequested) _abandoned++;
                else _timedOut++;
            }
            // Granted just as the wait ended: give the slot back rather than leak it.
            if (waiter.Granted.Task.IsCompletedSuccessfully) waiter.Granted.Task.Result.Dispose();
            _metrics?.RecordQueueWait(Stopwatch.GetElapsedTime(arrived),
                requestAborted.IsCancellationRequested ? ReconMetrics.QueueOutcome.Abandoned : ReconMetrics.QueueOutcome.TimedOut);
            if (requestAborted.IsCancellationRequested) throw;
            throw Busy(StatusCodes.Status503ServiceUnavailable,
                $"no engine slot became free within {Options.TimeoutSeconds} s (Queue:TimeoutSeconds); retry later");
        }
    }

    /// <summary>
    /// Intra-op threads for a request that has just taken its slot: <see cref="QueueOptions.IntraOpThreads"/> when set,
    /// else the cores divided by the requests running now (this one included), at least 1.
    /// </summary>
    public int ThreadsForThisRequest()
    {
        if (Options.IntraOpThreads > 0) return Options.IntraOpThreads;
        int running;
        lock (_lock) running = _running;
        return Math.Max(1, Environment.ProcessorCount / Math.Max(1, running));
    }

    private bool Fits(long bytes) => _running < Options.Concurrency && _reservedBytes + bytes <= BudgetBytes;

    private EngineLease Grant(long bytes)
    {
        _running++;
        _reservedBytes += bytes;
        _reservedPeak = Math.Max(_reservedPeak, _reservedBytes);
        _admitted++;
        return new EngineLease(this, bytes);
    }

    /// <summary>Gives back <paramref name="bytes"/> of the reserved memory, and the slot when <paramref name="slot"/>; admits who now fits.</summary>
    internal void Release(long bytes, bool slot)
    {
        lock (_lock)
        {
            if (slot) _running--;
            _reservedBytes -= bytes;
            // Strictly first come, first served: a waiter that does not fit yet holds back those behind it.
            while (_waiting.First is { } head && Fits(head.Value.Bytes))
            {
                _waiting.RemoveFirst();
                head.Value.Granted.TrySetResult(Grant(head.Value.Bytes));
            }
        }
    }

    private ProblemException Busy(int status, string message) => new(status, "queue", message)
    {
        Headers = new Dictionary<string, string> { ["Retry-After"] = Options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) },
    };

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;
        public TaskCompletionSource<EngineLease> Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>
/// An engine slot and a share of the memory budget, held by one request. After the run, <see cref="KeepForAnswer"/>
/// gives back the slot and all the memory but what the answer still holds while it is written; disposing gives back
/// the rest (once).
/// </summary>
public sealed class EngineLease : IDisposable
{
    private readonly EngineQueue _queue;
    private readonly Lock _lock = new();
    private long _bytes;
    private bool _slot = true, _released;

    internal EngineLease(EngineQueue queue, long bytes)
    {
        _queue = queue;
        _bytes = bytes;
    }

    /// <summary>Memory of the budget this lease holds now, in bytes.</summary>
    public long Bytes
    {
        get { lock (_lock) return _released ? 0 : _bytes; }
    }

    /// <summary>
    /// Gives back the engine slot and the reserved memory beyond <paramref name="answerBytes"/> (the answer's tensors, held
    /// until it is written); more than was reserved is kept as it is. The rest goes back when the lease is disposed.
    /// </summary>
    public void KeepForAnswer(long answerBytes)
    {
        long give;
        lock (_lock)
        {
            if (_released || !_slot) return;
            _slot = false;
            give = Math.Max(0, _bytes - Math.Max(0, answerBytes));
            _bytes -= give;
        }
        _queue.Release(give, slot: true);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        long bytes;
        bool slot;
        lock (_lock)
        {
            if (_released) return;
            _released = true;
            (bytes, slot) = (_bytes, _slot);
        }
        _queue.Release(bytes, slot);
    }
}

/// <summary>
/// Queue counts: slots, waiting, leases granted and refused (429), waits timed out (503) or abandoned by the client,
/// and the working memory reserved by the running requests (now and at most) against the budget, in bytes.
/// </summary>
public sealed record QueueStatistics(int Concurrency, int Length, int Running, int Queued, long Admitted, long Rejected, long TimedOut,
    long Abandoned, long ReservedBytes, long ReservedBytesPeak, long BudgetBytes);
