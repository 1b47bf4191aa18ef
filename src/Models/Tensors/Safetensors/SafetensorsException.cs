namespace ReconService.Models.Tensors.Safetensors;

/// <summary>
/// A safetensors request body that cannot be read: a header length past the end, offsets out of range, overlapping
/// data, an unsupported dtype, a missing or malformed <c>__metadata__["request"]</c> entry, a tensor name the request
/// does not have. The HTTP layer answers 400 naming <see cref="Field"/>.
/// </summary>
public sealed class SafetensorsException : FormatException
{
    /// <summary>Creates the error.</summary>
    /// <param name="field">
    /// What is at fault: <c>body</c> for the file itself, <c>__metadata__.request</c>, a tensor's name
    /// (<c>residual</c>) or one of its header members (<c>residual.data_offsets</c>, <c>residual.dtype</c>).
    /// </param>
    /// <param name="message">What was expected and what was given.</param>
    public SafetensorsException(string field, string message) : base(message) => Field = field;

    /// <summary>What is at fault, e.g. <c>body</c>, <c>residual.data_offsets</c>, <c>__metadata__.request</c>.</summary>
    public string Field { get; }
}
