namespace ReconService.Api.Pipeline;

/// <summary>
/// Bytes held by answers while they are written (the memory beside the engine's working memory), now and at most:
/// tensor storage for answers written straight from it, encoded bytes for answers from the cache.
/// </summary>
public sealed class AnswerStatistics
{
    private long _writing, _peak;

    /// <summary>Bytes held by answers being written now.</summary>
    public long WritingBytes => Interlocked.Read(ref _writing);

    /// <summary>The most bytes that answers being written held at once.</summary>
    public long WritingBytesPeak => Interlocked.Read(ref _peak);

    /// <summary>Writes <paramref name="answer"/>, counting what it holds while it is written, then frees it.</summary>
    public async Task WriteAsync(IAnswerBody answer, HttpContext http)
    {
        var held = answer.HeldBytes;
        var now = Interlocked.Add(ref _writing, held);
        for (var peak = WritingBytesPeak; now > peak && Interlocked.CompareExchange(ref _peak, now, peak) != peak; peak = WritingBytesPeak) { }
        try
        {
            await WriteResponseAsync(answer, http);
        }
        finally
        {
            Interlocked.Add(ref _writing, -held);
            answer.Dispose();
        }
    }

    /// <summary>Status 200, <c>Content-Type</c>, <c>Content-Length</c> when known, then the answer in chunks.</summary>
    internal static async Task WriteResponseAsync(IAnswerBody answer, HttpContext http)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = answer.MediaType;
        if (answer.Length is { } length) http.Response.ContentLength = length;
        await answer.WriteToAsync(http.Response.Body, http.RequestAborted);
    }
}
