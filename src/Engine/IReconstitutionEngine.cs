using ReconService.Engine.Model;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using TorchSharp;

namespace ReconService.Engine;

/// <summary>
/// Everything the service computes, over one loaded transformer and its autoencoders.
/// Implementations are thread-safe: weights are never mutated by a call.
/// </summary>
/// <remarks>
/// Every method is synchronous and does all of its tensor work on the calling thread, inside its own
/// dispose scope. Inputs are float32 CPU tensors; a residual is <c>[tokens, d_model]</c> or
/// <c>[batch, tokens, d_model]</c> and results then carry the same leading batch axis. Results are new
/// float32 CPU tensors owned by the caller (dispose them, or create them inside the caller's own scope).
/// Invalid arguments throw <see cref="ReconstitutionException"/> naming the request field
/// (<c>residual.shape</c>, <c>layerIndex</c>, <c>tensorIndices</c>, ...) before any tensor work.
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
    /// The activation of <paramref name="spec"/>'s node type recomputed from the residual stream preceding it:
    /// qk logits or probs <c>[q, k, heads]</c> (masked logits are -inf), MLP activations <c>[tokens, d_ff]</c>,
    /// latents <c>[tokens, n_latents]</c> (or the slice's width).
    /// </summary>
    torch.Tensor Activations(torch.Tensor residual, ActivationSpec spec);

    /// <summary>
    /// d activation[<paramref name="tensorIndices"/>] / d residual, shaped like <paramref name="residual"/>.
    /// Indices address one activation scalar per sequence (the batch axis excluded).
    /// </summary>
    torch.Tensor Gradient(torch.Tensor residual, ActivationSpec spec, IReadOnlyList<long> tensorIndices);

    /// <summary>
    /// Jacobian of the activation with respect to the residual times <paramref name="writeVector"/>
    /// (shaped like the residual); shaped like the activation, 0 where the activation is -inf.
    /// </summary>
    torch.Tensor Jvp(torch.Tensor residual, ActivationSpec spec, torch.Tensor writeVector);

    /// <summary>Attention block output <c>resid.delta_attn</c>, <c>[tokens, d_model]</c>, from the residual before layer <paramref name="layerIndex"/>'s attention.</summary>
    torch.Tensor ResidDeltaAttn(torch.Tensor residual, int layerIndex, bool detachLayerNormScale = true);

    /// <summary>MLP block output <c>resid.delta_mlp</c>, <c>[tokens, d_model]</c>, from <c>resid.post_attn</c> of the layer.</summary>
    torch.Tensor ResidDeltaMlp(torch.Tensor residual, int layerIndex, bool detachLayerNormScale = true);

    /// <summary>Attention probs <c>[q, k, heads]</c> and values V <c>[tokens, heads, d_head]</c>.</summary>
    (torch.Tensor Attention, torch.Tensor Values) AttentionValues(torch.Tensor residual, int layerIndex,
        bool detachLayerNormScale = true, AttentionTraceType? attentionTraceType = null);

    /// <summary>Logits <c>[tokens, n_vocab]</c> from the final layer's <c>resid.post_mlp</c>.</summary>
    torch.Tensor Logits(torch.Tensor residual, bool detachLayerNormScale = true);

    /// <summary>Log-softmax of <see cref="Logits"/> over the vocabulary, <c>[tokens, n_vocab]</c>.</summary>
    torch.Tensor Logprobs(torch.Tensor residual, bool detachLayerNormScale = true);

    /// <summary>Latents <c>[tokens, n_latents]</c> of autoencoder <paramref name="autoencoder"/> at a layer, from raw activations of its input type <c>[tokens, n_inputs]</c>.</summary>
    torch.Tensor Encode(string autoencoder, torch.Tensor activations, int layerIndex);

    /// <summary>d(sum over tokens of latent <paramref name="latentIndex"/>) / d activations, shaped like <paramref name="activations"/>.</summary>
    torch.Tensor LatentGradient(string autoencoder, torch.Tensor activations, int layerIndex, int latentIndex);

    /// <summary>
    /// A forward pass over <paramref name="tokens"/> (<c>[tokens]</c> or <c>[batch, tokens]</c>, int64) capturing the named
    /// activation locations (<see cref="Hooks.ActivationLocations"/>) at the given layers (all when null).
    /// </summary>
    ForwardResult Forward(torch.Tensor tokens, IReadOnlyCollection<string> capture, IReadOnlyCollection<int>? layers = null);

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

/// <summary>Result of <see cref="IReconstitutionEngine.Forward"/>; owns its tensors.</summary>
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
