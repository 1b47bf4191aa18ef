using ReconService.Engine.Model;
using ReconService.Engine.Operations;
using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine;

/// <summary>
/// Everything the service computes, over one loaded transformer and its autoencoders.
/// Implementations are thread-safe: weights are never mutated by a call.
/// </summary>
/// <remarks>
/// Every computation is an operation (<see cref="IEngineOperation{TResult}"/>, in <c>Engine/Operations</c>): planned
/// first, then run. A residual is <c>[tokens, d_model]</c> or <c>[batch, tokens, d_model]</c> and results then carry
/// the same leading batch axis; results are float32 CPU tensors. Invalid arguments throw
/// <see cref="ReconstitutionException"/> naming the request field (<c>residual.shape</c>, <c>layerIndex</c>,
/// <c>tensorIndices</c>, ...) at planning time. <see cref="EngineCalls"/> has one-call shortcuts over tensors.
/// Semantics follow <c>reconstituted.py</c> of OpenAI's Transformer Debugger.
/// </remarks>
public interface IReconstitutionEngine
{
    /// <summary>Model sizes.</summary>
    GptConfig Config { get; }

    /// <summary>Device the weights live on (<c>cpu</c> or <c>cuda</c>).</summary>
    string Device { get; }

    /// <summary>Loaded autoencoder families, by name.</summary>
    IReadOnlyDictionary<string, AutoencoderInfo> Autoencoders { get; }

    /// <summary>
    /// Validates <paramref name="operation"/> against the loaded model and returns its plan (checked operation, output
    /// shapes, working-memory estimate) without reading any tensor data or computing anything.
    /// </summary>
    /// <exception cref="ReconstitutionException">An argument the model cannot serve (422), naming the request field.</exception>
    EnginePlan<TResult> Plan<TResult>(IEngineOperation<TResult> operation) where TResult : IEngineResult;

    /// <summary>
    /// Runs a plan synchronously on the calling thread; every tensor it makes, results included, belongs to the
    /// caller's dispose scope. Results that are NaN or infinite although every input was finite (outside the causal
    /// mask of attention scores) are refused.
    /// </summary>
    /// <exception cref="ReconstitutionException">Non-finite input values (<c>residual.data</c>), or a result that
    /// overflowed float32 (naming the output, e.g. <c>logits</c>).</exception>
    TResult Run<TResult>(EnginePlan<TResult> plan) where TResult : IEngineResult;

    /// <summary>Number of TorchSharp tensors alive in the process (a leak probe).</summary>
    long LiveTensorCount { get; }
}

/// <summary>What requests may know of a loaded autoencoder family.</summary>
/// <param name="Name">Name requests use.</param>
/// <param name="InputType">Activation it encodes.</param>
/// <param name="NodeType">Node type TDB gives its latents.</param>
/// <param name="Layers">Layers that have one, ascending.</param>
/// <param name="NLatents">Latents per layer.</param>
/// <param name="NInputs">Width of the encoded activation.</param>
/// <param name="Activation">Nonlinearity; <paramref name="K"/> for TopK.</param>
/// <param name="K">Latents kept per row for TopK.</param>
public sealed record AutoencoderInfo(string Name, AutoencoderInputType InputType, NodeType NodeType,
    IReadOnlyList<int> Layers, int NLatents, int NInputs, AutoencoderActivation Activation, int? K)
{
    /// <summary>Format, architecture, hooks, threshold range and preprocessing; null when the engine does not know them.</summary>
    public Autoencoders.AutoencoderDetails? Details { get; init; }
}

/// <summary>Result of <see cref="ReconstitutionEngine.Forward"/>; owns its tensors.</summary>
/// <param name="Logits"><c>[tokens, n_vocab]</c> (or with a batch axis).</param>
/// <param name="Captured">Location name → layer → tensor (<c>-1</c> for locations outside layers, e.g. <c>resid.post_emb</c>, <c>logits</c>).</param>
public sealed record ForwardResult(torch.Tensor Logits, IReadOnlyDictionary<string, IReadOnlyDictionary<int, torch.Tensor>> Captured) : IDisposable
{
    /// <summary>Disposes every tensor.</summary>
    public void Dispose()
    {
        Logits.Dispose();
        foreach (var byLayer in Captured.Values) foreach (var t in byLayer.Values) t.Dispose();
    }
}
