namespace ReconService.Api.Errors;

/// <summary>
/// A request field the service rejects before the engine sees it. 400 for malformed input
/// (bad base64, a shape that disagrees with the data), 422 for a well-formed value the model can't serve.
/// </summary>
public sealed class RequestFieldException(string field, string message, int statusCode = StatusCodes.Status400BadRequest)
    : Exception(message)
{
    /// <summary>Request field at fault, camelCase and dotted (<c>residual.data</c>).</summary>
    public string Field { get; } = field;

    /// <summary>HTTP status to answer with.</summary>
    public int StatusCode { get; } = statusCode;
}
