namespace ReconService.Api.Pipeline;

/// <summary>
/// An answer encoded to bytes: what the cache keeps (it stores its own serialized copy, so that its size bound
/// <c>Cache:SizeLimitBytes</c> holds) and writes again on a hit. Only answers the cache takes are made into bytes
/// (<see cref="CopyAsync"/>); larger ones are written straight from tensor memory. An answer that owns its bytes lets
/// go of them once written (<see cref="Dispose"/>) and, when they are large, asks for a background collection.
/// </summary>
public sealed class EncodedAnswer(ReadOnlyMemory<byte> body, string mediaType, bool owned = false) : IAnswerBody, IResult
{
    /// <summary>Owned answers at least this large are collected as soon as written.</summary>
    private const int CollectAtBytes = 32 << 20;

    /// <summary>Bytes handed to the server per write: each is copied into its output buffers and flushed before the next.</summary>
    internal const int WriteChunkBytes = 1 << 20;

    private ReadOnlyMemory<byte> _body = body;

    /// <summary>The bytes (empty once an owned answer is disposed).</summary>
    public ReadOnlyMemory<byte> Body => _body;

    /// <inheritdoc />
    public string MediaType { get; } = mediaType;

    /// <inheritdoc />
    public long? Length => _body.Length;

    /// <inheritdoc />
    public long HeldBytes => _body.Length;

    /// <summary>The bytes <paramref name="answer"/> writes, owned by the copy (the answer itself is left to its owner).</summary>
    public static async Task<EncodedAnswer> CopyAsync(IAnswerBody answer, CancellationToken cancellationToken)
    {
        var stream = answer.Length is { } length
            ? new MemoryStream(GC.AllocateUninitializedArray<byte>(checked((int)length)), 0, (int)length, writable: true, publiclyVisible: true)
            : new MemoryStream();
        await answer.WriteToAsync(stream, cancellationToken);
        return new EncodedAnswer(stream.GetBuffer().AsMemory(0, (int)stream.Position), answer.MediaType, owned: true);
    }

    /// <inheritdoc />
    public async Task WriteToAsync(Stream destination, CancellationToken cancellationToken)
    {
        // One write of the whole answer would be copied whole into Kestrel's pooled buffers (a second copy of every answer
        // in flight, and memory the pool keeps); chunks wait for the client between copies.
        var body = Body;
        for (var offset = 0; offset < body.Length; offset += WriteChunkBytes)
            await destination.WriteAsync(body.Slice(offset, Math.Min(WriteChunkBytes, body.Length - offset)), cancellationToken);
    }

    /// <inheritdoc />
    public Task ExecuteAsync(HttpContext httpContext) => AnswerStatistics.WriteResponseAsync(this, httpContext);

    /// <summary>Lets go of owned bytes; answers shared through the cache are left as they are.</summary>
    public void Dispose()
    {
        if (!owned) return;
        var length = _body.Length;
        _body = ReadOnlyMemory<byte>.Empty;
        if (length >= CollectAtBytes) GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: false);
    }
}
