using ReconService.Api.Errors;
using ReconService.Engine.Model;

namespace ReconService.Api.Tensors;

/// <summary>Checks of request tensors against the model that the engine would otherwise report less precisely.</summary>
public static class TensorShapes
{
    /// <summary>Rejects (422) a tensor that is not <c>[tokens, width]</c> or <c>[batch, tokens, width]</c> with at least one token.</summary>
    public static void RequireRows(TorchSharp.torch.Tensor tensor, int width, string field)
    {
        var shape = tensor.shape;
        var ok = shape.Length is 2 or 3 && shape[^1] == width && shape[^2] >= 1 && (shape.Length == 2 || shape[0] >= 1);
        if (!ok)
            throw new RequestFieldException($"{field}.shape",
                $"expected [tokens, {width}] or [batch, tokens, {width}], got [{string.Join(", ", shape)}]",
                StatusCodes.Status422UnprocessableEntity);
    }

    /// <summary>Rejects (422) a residual whose width is not the model's <c>d_model</c>.</summary>
    public static void RequireResidual(TorchSharp.torch.Tensor residual, GptConfig config, string field) =>
        RequireRows(residual, config.DModel, field);
}
