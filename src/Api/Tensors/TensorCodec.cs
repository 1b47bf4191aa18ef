using ReconService.Api.Errors;
using ReconService.Models.Tensors;
using TorchSharp;

namespace ReconService.Api.Tensors;

/// <summary>Moves tensors between the wire (<see cref="TensorPayload"/>) and TorchSharp, on the CPU.</summary>
public static class TensorCodec
{
    /// <summary>
    /// A float32 CPU tensor holding the payload's values. Base64 is decoded straight into the new tensor's
    /// memory; float16 and bfloat16 inputs are widened to float32.
    /// </summary>
    /// <param name="payload">The payload.</param>
    /// <param name="field">Request field it came from, for error messages (<c>residual</c>).</param>
    /// <exception cref="ProblemException">400: bad dtype, shape or data.</exception>
    public static torch.Tensor Decode(TensorPayload payload, string field)
    {
        var scalarType = payload.Dtype switch
        {
            "float32" => torch.ScalarType.Float32,
            "float16" => torch.ScalarType.Float16,
            "bfloat16" => torch.ScalarType.BFloat16,
            _ => throw new ProblemException(StatusCodes.Status400BadRequest, $"{field}.dtype", $"expected float32, float16 or bfloat16, got {payload.Dtype}"),
        };
        if (payload.Shape.Count == 0)
            throw new ProblemException(StatusCodes.Status400BadRequest, $"{field}.shape", "expected at least one axis");
        var tensor = torch.empty(payload.Shape.ToArray(), scalarType, torch.CPU);
        try
        {
            if (payload.ElementCount > 0 && payload.TryDecodeTo(tensor.bytes) is { } error)
                throw new ProblemException(StatusCodes.Status400BadRequest, $"{field}.data", error);
            if (payload.ElementCount == 0 && payload.TryDecodeTo([]) is { } emptyError)
                throw new ProblemException(StatusCodes.Status400BadRequest, $"{field}.data", emptyError);
            if (scalarType == torch.ScalarType.Float32) return tensor;
            var widened = tensor.to(torch.ScalarType.Float32);
            tensor.Dispose();
            return widened;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>A float32 payload holding a copy of the tensor's values: it outlives the tensor.</summary>
    public static TensorPayload Copy(torch.Tensor tensor, TensorEncoding encoding = TensorEncoding.Base64) =>
        TensorPayload.FromValues(tensor.shape, tensor.detach().to(torch.ScalarType.Float32, torch.CPU).contiguous().data<float>().ToArray(), encoding);
}
