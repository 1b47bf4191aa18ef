using System.ComponentModel;
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

/// <summary>An answer encoded to bytes: what the cache holds and what is written. Never changed once made.</summary>
/// <param name="Body">The bytes.</param>
/// <param name="MediaType">Its <c>Content-Type</c>.</param>
[ImmutableObject(true)]
public sealed record EncodedAnswer(ReadOnlyMemory<byte> Body, string MediaType) : IResult
{
    /// <inheritdoc />
    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = StatusCodes.Status200OK;
        httpContext.Response.ContentType = MediaType;
        httpContext.Response.ContentLength = Body.Length;
        return httpContext.Response.Body.WriteAsync(Body, httpContext.RequestAborted).AsTask();
    }
}

/// <summary>The encode step for one media type. JSON is built in; safetensors answers plug in here.</summary>
public interface IAnswerEncoder
{
    /// <summary>The media type it writes, matched against <c>Accept</c>.</summary>
    string MediaType { get; }

    /// <summary>Encodes <paramref name="response"/> while its tensors are alive; <paramref name="elements"/> sizes the buffer.</summary>
    EncodedAnswer Encode<TResponse>(TResponse response, long elements);
}

/// <summary>JSON with the service's options (camelCase, base64 or list tensors).</summary>
public sealed class JsonAnswerEncoder(IOptions<JsonOptions> json) : IAnswerEncoder
{
    /// <inheritdoc />
    public string MediaType => "application/json";

    /// <inheritdoc />
    public EncodedAnswer Encode<TResponse>(TResponse response, long elements)
    {
        // Base64 is 16/3 bytes per float32; list answers grow the buffer as needed.
        var stream = new MemoryStream((int)Math.Min(elements * 16 / 3 + 4096, Array.MaxLength));
        JsonSerializer.Serialize(stream, response, json.Value.SerializerOptions);
        return new EncodedAnswer(stream.GetBuffer().AsMemory(0, (int)stream.Length), "application/json; charset=utf-8");
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
