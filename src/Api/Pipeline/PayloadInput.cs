using System.Buffers.Text;
using ReconService.Api.Errors;
using ReconService.Api.Tensors;
using ReconService.Engine.Operations;
using ReconService.Models.Tensors;
using TorchSharp;

namespace ReconService.Api.Pipeline;

/// <summary>
/// A request's tensor payload as an engine input: its shape and dtype known at once, its data decoded only by
/// <see cref="Read"/> (once the request holds an engine slot). Made at bind time, where the data's length is checked
/// against shape × dtype (400 naming <c>.data</c>), so no later step meets a payload that cannot be decoded.
/// </summary>
public sealed class PayloadInput : ITensorInput
{
    private readonly TensorPayload _payload;

    private PayloadInput(string field, TensorPayload payload)
    {
        Field = field;
        _payload = payload;
    }

    /// <inheritdoc />
    public string Field { get; }

    /// <inheritdoc />
    public IReadOnlyList<long> Shape => _payload.Shape;

    /// <inheritdoc />
    public string Dtype => _payload.Dtype;

    /// <inheritdoc />
    public torch.Tensor Read() => TensorCodec.Decode(_payload, Field);

    /// <summary>Checks <paramref name="payload"/>'s data against its shape and dtype.</summary>
    /// <exception cref="ProblemException">400: base64 that is invalid or of the wrong length, or a list of the wrong size.</exception>
    public static PayloadInput Bind(TensorPayload payload, string field)
    {
        long elements;
        try { elements = payload.ElementCount; }
        catch (OverflowException)
        {
            throw new ProblemException(StatusCodes.Status400BadRequest, $"{field}.shape", "the shape's element count overflows");
        }
        if (payload.IsText && payload.ElementSize > 0)
        {
            var expected = (elements * payload.ElementSize + 2) / 3 * 4;
            var text = payload.Base64Utf8;
            if (text.Length != expected && !Base64.IsValid(text.Span))
                throw new ProblemException(StatusCodes.Status400BadRequest, $"{field}.data", "data is not valid base64 (RFC 4648 with padding)");
            if (text.Length != expected)
                throw new ProblemException(StatusCodes.Status400BadRequest, $"{field}.data",
                    $"shape [{string.Join(", ", payload.Shape)}] of {payload.Dtype} needs base64 of length {expected}, got {text.Length}");
        }
        return new PayloadInput(field, payload);
    }
}

/// <summary>Binding payloads as inputs in the endpoints' mapping lines.</summary>
public static class PayloadInputExtensions
{
    /// <summary><see cref="PayloadInput.Bind"/>.</summary>
    public static ITensorInput Input(this TensorPayload payload, string field) => PayloadInput.Bind(payload, field);
}
