using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using ReconService.Api.Errors;
using ReconService.Api.Tensors;
using ReconService.Engine.Operations;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;

namespace ReconService.Api.Pipeline;

/// <summary>
/// The reduce step: a request's <c>output</c> block (positions, indices, top-k, dtype) applied to each output tensor.
/// This is the seam for it; the service registers <see cref="NoReduction"/> until the reduction is plugged in
/// (<c>services.AddSingleton&lt;IOutputReduction, ...&gt;()</c>).
/// </summary>
public interface IOutputReduction
{
    /// <summary>The plan with its outputs' shapes and dtypes as the request's reduction leaves them (limits check these).</summary>
    EnginePlan<TResult> Plan<TResult>(EnginePlan<TResult> plan, TensorRequest request) where TResult : IEngineResult;

    /// <summary>One output tensor as the request asks for it (in the run's dispose scope).</summary>
    NamedTensor Reduce(NamedTensor output, TensorRequest request);
}

/// <summary>No reduction: every output as computed.</summary>
public sealed class NoReduction : IOutputReduction
{
    /// <inheritdoc />
    public EnginePlan<TResult> Plan<TResult>(EnginePlan<TResult> plan, TensorRequest request) where TResult : IEngineResult => plan;

    /// <inheritdoc />
    public NamedTensor Reduce(NamedTensor output, TensorRequest request) => output;
}

/// <summary>What an endpoint's answer mapping uses: each output tensor reduced and made a wire payload.</summary>
public sealed class Answer(TensorRequest request, IOutputReduction reduction, IServiceProvider services)
{
    /// <summary>
    /// <paramref name="output"/> reduced as the request asks, as a payload that reads the tensor's own memory: valid
    /// until the run's dispose scope ends, which is after the answer is encoded.
    /// </summary>
    public TensorPayload Tensor(NamedTensor output) => TensorCodec.Encode(reduction.Reduce(output, request).Tensor, request.OutputEncoding);

    /// <summary>A service the answer needs (the tokenizer, for token strings).</summary>
    public T Service<T>() where T : notnull => services.GetRequiredService<T>();
}

/// <summary>
/// An answer encoded to bytes: what is written, and what the cache keeps (the cache stores its own serialized copy, so
/// that its size bound <c>Cache:SizeLimitBytes</c> holds). An answer that owns its bytes lets go of them once written
/// (<see cref="Dispose"/>) and, when they are large, asks for a background collection: answers of hundreds of
/// megabytes otherwise pile up as garbage between the GC's own collections, several gigabytes in a burst.
/// </summary>
public sealed class EncodedAnswer(ReadOnlyMemory<byte> body, string mediaType, bool owned = false) : IResult, IDisposable
{
    /// <summary>Owned answers at least this large are collected as soon as written.</summary>
    private const int CollectAtBytes = 32 << 20;

    private ReadOnlyMemory<byte> _body = body;

    /// <summary>The bytes (empty once an owned answer is disposed).</summary>
    public ReadOnlyMemory<byte> Body => _body;

    /// <summary>Its <c>Content-Type</c>.</summary>
    public string MediaType { get; } = mediaType;

    /// <summary>Bytes handed to the server per write: each is copied into its output buffers and flushed before the next.</summary>
    private const int WriteChunkBytes = 1 << 20;

    /// <inheritdoc />
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = StatusCodes.Status200OK;
        httpContext.Response.ContentType = MediaType;
        httpContext.Response.ContentLength = Body.Length;
        // One write of the whole answer would be copied whole into Kestrel's pooled buffers (a second copy of every answer
        // in flight, and memory the pool keeps); chunks wait for the client between copies.
        for (var offset = 0; offset < Body.Length; offset += WriteChunkBytes)
            await httpContext.Response.Body.WriteAsync(Body.Slice(offset, Math.Min(WriteChunkBytes, Body.Length - offset)), httpContext.RequestAborted);
    }

    /// <summary>Lets go of owned bytes; answers shared through the cache are left as they are.</summary>
    public void Dispose()
    {
        if (!owned) return;
        var length = _body.Length;
        _body = ReadOnlyMemory<byte>.Empty;
        if (length >= CollectAtBytes) GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: false);
    }
}

/// <summary>An <see cref="IBufferWriter{T}"/> over one uninitialized array, sized from an estimate and doubled when short.</summary>
internal sealed class AnswerBufferWriter(int initialCapacity) : IBufferWriter<byte>
{
    private byte[] _buffer = GC.AllocateUninitializedArray<byte>(Math.Max(initialCapacity, 256));
    private int _written;

    /// <summary>The answer written so far, owning the array.</summary>
    public EncodedAnswer ToAnswer(string mediaType) => new(_buffer.AsMemory(0, _written), mediaType, owned: true);

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0) => Reserve(sizeHint).AsMemory(_written);

    public Span<byte> GetSpan(int sizeHint = 0) => Reserve(sizeHint).AsSpan(_written);

    private byte[] Reserve(int sizeHint)
    {
        var needed = (long)_written + Math.Max(sizeHint, 1);
        if (needed <= _buffer.Length) return _buffer;
        var larger = GC.AllocateUninitializedArray<byte>((int)Math.Min(Math.Max(needed, 2L * _buffer.Length), Array.MaxLength));
        _buffer.AsSpan(0, _written).CopyTo(larger);
        return _buffer = larger;
    }
}

/// <summary>The encode step for one media type. JSON is built in; safetensors answers plug in here.</summary>
public interface IAnswerEncoder
{
    /// <summary>The media type it writes, matched against <c>Accept</c>.</summary>
    string MediaType { get; }

    /// <summary>Encodes <paramref name="response"/> while its tensors are alive; <paramref name="elements"/> sizes the buffer.</summary>
    EncodedAnswer Encode<TResponse>(TResponse response, long elements);

    /// <summary>The least size an answer of <paramref name="elements"/> tensor values will have, in bytes.</summary>
    long ExpectedBytes(long elements);
}

/// <summary>JSON with the service's options (camelCase, base64 or list tensors).</summary>
public sealed class JsonAnswerEncoder(IOptions<JsonOptions> json) : IAnswerEncoder
{
    /// <inheritdoc />
    public string MediaType => "application/json";

    /// <inheritdoc />
    public long ExpectedBytes(long elements) => elements * 16 / 3; // base64 of float32; a list is longer

    /// <inheritdoc />
    public EncodedAnswer Encode<TResponse>(TResponse response, long elements)
    {
        // List answers grow the buffer as needed.
        var buffer = new AnswerBufferWriter((int)Math.Min(ExpectedBytes(elements) + 4096, Array.MaxLength));
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = json.Value.SerializerOptions.Encoder, SkipValidation = true }))
            JsonSerializer.Serialize(writer, response, json.Value.SerializerOptions);
        return buffer.ToAnswer("application/json; charset=utf-8");
    }
}

/// <summary>Chooses the encoder by the request's <c>Accept</c> header: JSON when absent or <c>*/*</c>; 406 when none fits.</summary>
public sealed class AnswerEncoders(IEnumerable<IAnswerEncoder> encoders)
{
    private readonly IAnswerEncoder[] _encoders = encoders.ToArray();

    /// <summary>The encoder for <paramref name="request"/>.</summary>
    public IAnswerEncoder For(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        if (accept.Count == 0) return _encoders[0];
        foreach (var type in accept.OrderByDescending(a => a.Quality ?? 1))
        {
            if (type.Quality == 0) continue;
            var match = _encoders.FirstOrDefault(e => new MediaTypeHeaderValue(e.MediaType).IsSubsetOf(type));
            if (match is not null) return match;
        }
        throw new ProblemException(StatusCodes.Status406NotAcceptable, "Accept", $"expected {string.Join(" or ", _encoders.Select(e => e.MediaType))}");
    }
}
