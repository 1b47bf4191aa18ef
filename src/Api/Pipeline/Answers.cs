using Microsoft.Net.Http.Headers;
using ReconService.Api.Errors;
using ReconService.Engine.Operations;
using ReconService.Engine.Reduction;
using ReconService.Engine.Transport;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;
using TorchSharp;

namespace ReconService.Api.Pipeline;

/// <summary>
/// What an endpoint's answer mapping uses: each output tensor reduced as the request's <c>output</c> asks and made a
/// wire payload that reads the tensor's own memory. That memory outlives the run's dispose scope: <see cref="Memory"/>
/// holds it until the answer is written.
/// </summary>
public sealed class Answer(TensorRequest request, IReadOnlyList<ITensorInput> inputs, IOutputReduction reduction, IServiceProvider services)
{
    /// <summary>The answer tensors' memory (and, once the run is over, the budget it holds), freed when the answer is written.</summary>
    public AnswerMemory Memory { get; } = new();

    /// <summary>
    /// <paramref name="output"/> reduced (positions, indices, top-k, dtype), as a payload named after it (the safetensors
    /// name); with <c>topK</c>, its int32 positions attached as <see cref="TensorPayload.Indices"/>, named
    /// <c>&lt;name&gt;Indices</c>.
    /// </summary>
    public TensorPayload Tensor(NamedTensor output)
    {
        var reduced = reduction.Reduce(output, request, inputs);
        var values = Payload(output.Name, reduced.Values);
        return reduced.Indices is { } indices ? values.WithIndices(Payload(PlannedOutput.IndicesFieldOf(output.Name), indices)) : values;
    }

    /// <summary>The request being answered (fields an answer echoes).</summary>
    public TensorRequest Request => request;

    /// <summary>A service the answer needs (the tokenizer, for token strings).</summary>
    public T Service<T>() where T : notnull => services.GetRequiredService<T>();

    private TensorPayload Payload(string name, torch.Tensor tensor)
    {
        var bytes = SafetensorsTensors.ToBytes(tensor, Memory.Owners);
        return TensorPayload.FromBytes(bytes.Dtype, bytes.Shape, bytes.Data, request.OutputEncoding, name);
    }
}

/// <summary>
/// The memory an answer holds until it is written: its tensors' storage (outside every dispose scope) and the share of
/// the engine's memory budget kept for it (<see cref="Limits.EngineLease.KeepForAnswer"/>). Disposing frees both.
/// </summary>
public sealed class AnswerMemory : IDisposable
{
    private Limits.EngineLease? _lease;

    /// <summary>Owners of tensor storage (<see cref="TensorByteMemory"/>).</summary>
    internal List<IDisposable> Owners { get; } = [];

    /// <summary>Bytes of tensor storage held.</summary>
    public long Bytes => Owners.OfType<TensorByteMemory>().Sum(m => (long)m.Memory.Length);

    /// <summary>Holds <paramref name="lease"/> (its slot already given back) until this memory is freed.</summary>
    internal void Hold(Limits.EngineLease lease) => _lease = lease;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var owner in Owners) owner.Dispose();
        Owners.Clear();
        Interlocked.Exchange(ref _lease, null)?.Dispose();
    }
}

/// <summary>
/// An answer ready to be written: its media type, its length when known before writing (<c>Content-Length</c>), the
/// memory it holds until written, and the writing itself. Disposing frees what it holds.
/// </summary>
public interface IAnswerBody : IDisposable
{
    /// <summary>Its <c>Content-Type</c>.</summary>
    string MediaType { get; }

    /// <summary>Bytes it writes, or null when only writing tells (a list-encoded JSON answer).</summary>
    long? Length { get; }

    /// <summary>Bytes of memory it holds until written (tensor storage, or its encoded bytes).</summary>
    long HeldBytes { get; }

    /// <summary>Writes the answer in chunks, each copied by the server into its buffers and sent before the next.</summary>
    Task WriteToAsync(Stream destination, CancellationToken cancellationToken);
}

/// <summary>The encode step for one media type: an answer record (its tensors alive) made ready to be written.</summary>
public interface IAnswerEncoder
{
    /// <summary>The media type it writes, matched against <c>Accept</c>.</summary>
    string MediaType { get; }

    /// <summary>
    /// The answer to <paramref name="response"/>, written later from the tensors' own memory: it takes
    /// <paramref name="memory"/> and frees it when disposed. Called inside the run's dispose scope.
    /// </summary>
    IAnswerBody Prepare<TResponse>(TResponse response, AnswerMemory memory);

    /// <summary>The least size of an answer whose tensors hold <paramref name="tensorBytes"/> bytes of values, in bytes.</summary>
    long ExpectedBytes(long tensorBytes);
}

/// <summary>Chooses the encoder by the request's <c>Accept</c> header: JSON when absent or <c>*/*</c>; 406 when none fits.</summary>
public sealed class AnswerEncoders(IEnumerable<IAnswerEncoder> encoders)
{
    private readonly IAnswerEncoder[] _encoders = encoders.ToArray();

    /// <summary>The media types answers can be written in, the default first.</summary>
    public IReadOnlyList<string> MediaTypes => _encoders.Select(e => e.MediaType).ToArray();

    /// <summary>The encoder for <paramref name="request"/>.</summary>
    public IAnswerEncoder For(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        if (accept.Count == 0)
        {
            // Absent means JSON; present but unparsable (the parser drops what it cannot read) is not "anything".
            var raw = request.Headers.Accept.ToString();
            if (string.IsNullOrWhiteSpace(raw)) return _encoders[0];
            throw new ProblemException(StatusCodes.Status406NotAcceptable, "Accept",
                $"'{(raw.Length > 40 ? raw[..40] : raw)}' is not a media type; expected {string.Join(" or ", _encoders.Select(e => e.MediaType))}");
        }
        foreach (var type in accept.OrderByDescending(a => a.Quality ?? 1))
        {
            if (type.Quality == 0) continue;
            var match = _encoders.FirstOrDefault(e => new MediaTypeHeaderValue(e.MediaType).IsSubsetOf(type));
            if (match is not null) return match;
        }
        throw new ProblemException(StatusCodes.Status406NotAcceptable, "Accept", $"expected {string.Join(" or ", _encoders.Select(e => e.MediaType))}");
    }
}
