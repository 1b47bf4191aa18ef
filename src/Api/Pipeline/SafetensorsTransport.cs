using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using ReconService.Api.Errors;
using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;

namespace ReconService.Api.Pipeline;

/// <summary>
/// Safetensors answers (<c>Accept: application/x-safetensors</c>): one file whose tensors are the answer's, each under
/// its own name (the engine's output name: <c>activations</c>, <c>captured/mlp.post_act/1</c>, <c>activationsIndices</c>)
/// or its path in the answer, and whose <c>__metadata__["json"]</c> is the JSON answer with <c>{"tensor": name}</c> in
/// each tensor's place. Written from the tensors' own memory.
/// </summary>
public sealed class SafetensorsAnswerEncoder(IOptions<JsonOptions> json) : IAnswerEncoder
{
    /// <inheritdoc />
    public string MediaType => SafetensorsMediaType.Name;

    /// <inheritdoc />
    public long ExpectedBytes(long tensorBytes) => tensorBytes;

    /// <inheritdoc />
    public IAnswerBody Prepare<TResponse>(TResponse response, AnswerMemory memory) =>
        new SafetensorsAnswerBody(SafetensorsAnswer.Encode<TensorPayload>(response!, json.Value.SerializerOptions, Describe, p => p.Name), memory);

    private static TensorBytes Describe(TensorPayload payload) =>
        payload.HasValues ? TensorBytes.Float32([.. payload.Shape], payload.Values)
        : payload.HasBytes ? new TensorBytes(payload.Kind!.Value, [.. payload.Shape], payload.Bytes)
        : throw new InvalidOperationException("an answer tensor holds values or bytes, not request text");

    /// <summary>The file, and the memory its tensors live in until written.</summary>
    private sealed class SafetensorsAnswerBody(SafetensorsFile file, AnswerMemory memory) : IAnswerBody
    {
        public string MediaType => SafetensorsMediaType.Name;

        public long? Length => file.Length;

        public long HeldBytes => memory.Bytes + file.Header.Length;

        public Task WriteToAsync(Stream destination, CancellationToken cancellationToken) =>
            file.WriteToAsync(destination, cancellationToken, EncodedAnswer.WriteChunkBytes);

        public void Dispose() => memory.Dispose();
    }
}

/// <summary>
/// Safetensors requests (<c>Content-Type: application/x-safetensors</c>): the request's tensors under their field names,
/// the other fields as JSON text in <c>__metadata__["request"]</c>, bound as strictly as JSON (an unknown field, here
/// or in the metadata, is a 400 naming it). Every bad file is a 400 naming the field (<see cref="SafetensorsRequestReader"/>).
/// The tensors are not copied at bind time: each is read from the body into its tensor when the engine reads the input.
/// </summary>
public sealed class SafetensorsBodyReader(IOptions<JsonOptions> json) : IRequestReader
{
    /// <inheritdoc />
    public string MediaType => SafetensorsMediaType.Name;

    /// <inheritdoc />
    public bool CanRead(string contentType) =>
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var type)
        && type.MediaType.Equals(SafetensorsMediaType.Name, StringComparison.OrdinalIgnoreCase);

    /// <inheritdoc />
    public T Read<T>(ReadOnlyMemory<byte> body) where T : class
    {
        SafetensorsRequest request;
        try
        {
            request = SafetensorsRequestReader.Read(body);
        }
        catch (SafetensorsException e)
        {
            throw new ProblemException(StatusCodes.Status400BadRequest, e.Field, e.Message);
        }
        using var placeholders = TensorPlaceholders.Begin(request.Tensors);
        var bound = JsonSerializer.Deserialize<T>(request.Json, json.Value.SerializerOptions)
                    ?? throw new ProblemException(StatusCodes.Status400BadRequest, "body", Problems.BodyExpected);
        if (placeholders.Unused is [var unused, ..])
            throw new ProblemException(StatusCodes.Status400BadRequest, unused, "not a tensor field of this request");
        return bound;
    }
}
