using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using ReconService.Api.Errors;

namespace ReconService.Api.Pipeline;

/// <summary>Reads one request body format into a request record. JSON is built in; safetensors requests plug in here.</summary>
public interface IRequestReader
{
    /// <summary>The media type it reads, e.g. <c>application/json</c>.</summary>
    string MediaType { get; }

    /// <summary>Whether it reads a body of <paramref name="contentType"/>.</summary>
    bool CanRead(string contentType);

    /// <summary>The request, with every unknown field refused (400 naming it).</summary>
    /// <exception cref="JsonException">Malformed input; the path names the field.</exception>
    /// <exception cref="ProblemException">400 naming the field.</exception>
    T Read<T>(ReadOnlyMemory<byte> body) where T : class;
}

/// <summary>JSON with the service's options: strict (unknown fields, nulls on required fields, wrong types are 400s).</summary>
public sealed class JsonRequestReader(IOptions<JsonOptions> json) : IRequestReader
{
    /// <inheritdoc />
    public string MediaType => "application/json";

    /// <inheritdoc />
    public bool CanRead(string contentType) =>
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var type)
        && (type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    /// <inheritdoc />
    public T Read<T>(ReadOnlyMemory<byte> body) where T : class
    {
        if (body.IsEmpty) throw new ProblemException(StatusCodes.Status400BadRequest, "body", Problems.BodyExpected);
        return JsonSerializer.Deserialize<T>(body.Span, json.Value.SerializerOptions)
               ?? throw new ProblemException(StatusCodes.Status400BadRequest, "body", Problems.BodyExpected);
    }
}

/// <summary>The bind step: picks the reader for the request's <c>Content-Type</c> (415 when none reads it).</summary>
public sealed class RequestBinder(IEnumerable<IRequestReader> readers)
{
    private readonly IRequestReader[] _readers = readers.ToArray();

    /// <summary>The request record of <paramref name="body"/>.</summary>
    public T Bind<T>(HttpRequest request, ReadOnlyMemory<byte> body) where T : class
    {
        var contentType = request.ContentType ?? "";
        var reader = _readers.FirstOrDefault(r => r.CanRead(contentType)) ?? throw new ProblemException(StatusCodes.Status415UnsupportedMediaType,
            "Content-Type", $"expected {string.Join(" or ", _readers.Select(r => r.MediaType))}");
        return reader.Read<T>(body);
    }
}
