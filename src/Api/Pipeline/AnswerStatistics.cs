namespace ReconService.Api.Pipeline;

/// <summary>Bytes of encoded answers held while they are written (the memory beside the engine budget), now and at most.</summary>
public sealed class AnswerStatistics
{
    private long _writing, _peak;

    /// <summary>Bytes of answers being written now.</summary>
    public long WritingBytes => Interlocked.Read(ref _writing);

    /// <summary>The most bytes of answers that were being written at once.</summary>
    public long WritingBytesPeak => Interlocked.Read(ref _peak);

    /// <summary>Writes <paramref name="answer"/>, counting its bytes while it is written, then lets go of its bytes.</summary>
    public async Task WriteAsync(EncodedAnswer answer, HttpContext http)
    {
        var now = Interlocked.Add(ref _writing, answer.Body.Length);
        for (var peak = WritingBytesPeak; now > peak && Interlocked.CompareExchange(ref _peak, now, peak) != peak; peak = WritingBytesPeak) { }
        try
        {
            await answer.ExecuteAsync(http);
        }
        finally
        {
            Interlocked.Add(ref _writing, -answer.Body.Length);
            answer.Dispose();
        }
    }
}
