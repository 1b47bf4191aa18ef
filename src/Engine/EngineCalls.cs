using ReconService.Engine.Hooks;
using ReconService.Engine.Operations;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine;

/// <summary>
/// One-call shortcuts over in-memory tensors: each plans and runs one operation (<c>Engine/Operations</c>), so the
/// checks and results are exactly the service's. Results are float32 CPU tensors in the caller's dispose scope
/// (or undisposed when it has none).
/// </summary>
public static class EngineCalls
{
    /// <summary>Plans and runs <paramref name="operation"/>.</summary>
    public static TResult Execute<TResult>(this IReconstitutionEngine engine, IEngineOperation<TResult> operation) where TResult : IEngineResult =>
        engine.Run(engine.Plan(operation));

    /// <summary>See <see cref="ActivationsOperation"/>.</summary>
    public static torch.Tensor Activations(this IReconstitutionEngine engine, torch.Tensor residual, ActivationSpec spec) =>
        engine.Execute(new ActivationsOperation(new TensorInput("residual", residual), spec)).Tensor;

    /// <summary>See <see cref="GradientOperation"/>; <paramref name="hooks"/> are added to the request's own.</summary>
    public static torch.Tensor Gradient(this IReconstitutionEngine engine, torch.Tensor residual, ActivationSpec spec,
        IReadOnlyList<long> tensorIndices, HookTree? hooks = null) =>
        engine.Execute(new GradientOperation(new TensorInput("residual", residual), spec, tensorIndices, hooks)).Tensor;

    /// <summary>See <see cref="JvpOperation"/>.</summary>
    public static torch.Tensor Jvp(this IReconstitutionEngine engine, torch.Tensor residual, ActivationSpec spec, torch.Tensor writeVector) =>
        engine.Execute(new JvpOperation(new TensorInput("residual", residual), spec, new TensorInput("writeVector", writeVector))).Tensor;

    /// <summary>See <see cref="ResidDeltaAttnOperation"/>.</summary>
    public static torch.Tensor ResidDeltaAttn(this IReconstitutionEngine engine, torch.Tensor residual, int layerIndex, bool detachLayerNormScale = true) =>
        engine.Execute(new ResidDeltaAttnOperation(new TensorInput("residual", residual), layerIndex, detachLayerNormScale)).Tensor;

    /// <summary>See <see cref="ResidDeltaMlpOperation"/>.</summary>
    public static torch.Tensor ResidDeltaMlp(this IReconstitutionEngine engine, torch.Tensor residual, int layerIndex, bool detachLayerNormScale = true) =>
        engine.Execute(new ResidDeltaMlpOperation(new TensorInput("residual", residual), layerIndex, detachLayerNormScale)).Tensor;

    /// <summary>See <see cref="AttentionValuesOperation"/>.</summary>
    public static (torch.Tensor Attention, torch.Tensor Values) AttentionValues(this IReconstitutionEngine engine, torch.Tensor residual, int layerIndex,
        bool detachLayerNormScale = true, AttentionTraceType? attentionTraceType = null)
    {
        var result = engine.Execute(new AttentionValuesOperation(new TensorInput("residual", residual), layerIndex, detachLayerNormScale, attentionTraceType));
        return (result.Attention.Tensor, result.Values.Tensor);
    }

    /// <summary>See <see cref="LogitsOperation"/>.</summary>
    public static torch.Tensor Logits(this IReconstitutionEngine engine, torch.Tensor residual, bool detachLayerNormScale = true) =>
        engine.Execute(new LogitsOperation(new TensorInput("residual", residual), detachLayerNormScale)).Tensor;

    /// <summary>See <see cref="LogprobsOperation"/>.</summary>
    public static torch.Tensor Logprobs(this IReconstitutionEngine engine, torch.Tensor residual, bool detachLayerNormScale = true) =>
        engine.Execute(new LogprobsOperation(new TensorInput("residual", residual), detachLayerNormScale)).Tensor;

    /// <summary>See <see cref="EncodeOperation"/>.</summary>
    public static torch.Tensor Encode(this IReconstitutionEngine engine, string autoencoder, torch.Tensor activations, int layerIndex) =>
        engine.Execute(new EncodeOperation(autoencoder, new TensorInput("activations", activations), layerIndex)).Tensor;

    /// <summary>See <see cref="LatentGradientOperation"/>.</summary>
    public static torch.Tensor LatentGradient(this IReconstitutionEngine engine, string autoencoder, torch.Tensor activations, int layerIndex, int latentIndex) =>
        engine.Execute(new LatentGradientOperation(autoencoder, new TensorInput("activations", activations), layerIndex, latentIndex)).Tensor;
}
