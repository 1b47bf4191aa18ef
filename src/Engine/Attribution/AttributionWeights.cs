using System.Collections.Concurrent;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>
/// The model weights attribution reads directly (attention and MLP output projections), and per-unit write norms
/// computed once per engine and kept: <c>||W_out[:, i]||</c> per neuron, <c>||w_j||</c> per latent (<c>w_j = W_dec[:, j]</c>,
/// or <c>W_out W_dec[:, j]</c> for an autoencoder on <c>mlp.post_act</c>, whose latents write through the MLP's output
/// weights), and for those autoencoders the write vectors themselves. The model is read, never changed.
/// </summary>
internal sealed class AttributionWeights(Transformer model) : IDisposable
{
    private readonly Dictionary<string, Tensor> _parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
    private readonly ConcurrentDictionary<int, Lazy<Tensor>> _neuronNorms = new();
    private readonly ConcurrentDictionary<Autoencoder, Lazy<Tensor>> _latentNorms = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<Autoencoder, Lazy<Tensor>> _latentWrites = new(ReferenceEqualityComparer.Instance);

    /// <summary>The attention output projection <c>W_O</c> of <paramref name="layer"/>, <c>[d_model, heads * d_head]</c>.</summary>
    public Tensor AttentionOut(int layer) => _parameters[$"xf_layers.{layer}.attn.out_proj.weight"];

    /// <summary>The MLP output weights <c>W_out</c> of <paramref name="layer"/>, <c>[d_model, d_ff]</c>.</summary>
    public Tensor MlpOut(int layer) => _parameters[$"xf_layers.{layer}.mlp.out_layer.weight"];

    /// <summary><c>||W_out[:, i]||</c> per neuron of <paramref name="layer"/>, <c>[d_ff]</c>.</summary>
    public Tensor NeuronWriteNorms(int layer) =>
        _neuronNorms.GetOrAdd(layer, l => new Lazy<Tensor>(() => Keep(() => MlpOut(l).norm(0)))).Value;

    /// <summary><c>||w_j||</c> per latent of a spliced autoencoder at <paramref name="layer"/>, <c>[n_latents]</c>.</summary>
    public Tensor LatentWriteNorms(SplicedFamily splice, int layer) =>
        _latentNorms.GetOrAdd(splice.Set.Layers[layer], ae => new Lazy<Tensor>(() => Keep(() =>
            splice.WritesThroughMlpOut ? LatentWrites(splice, layer).norm(1) : ae.DecoderWeight.norm(0)))).Value;

    /// <summary>
    /// For an autoencoder on <c>mlp.post_act</c>: each latent's write to the residual stream, <c>(W_out W_dec)^T</c>,
    /// <c>[n_latents, d_model]</c>, computed once (in slices of latents) and kept: a quarter of its decoder's size, and it
    /// turns every per-latent product with a gradient into a <c>d_model</c>-wide one instead of a <c>d_ff</c>-wide one.
    /// </summary>
    public Tensor LatentWrites(SplicedFamily splice, int layer) =>
        _latentWrites.GetOrAdd(splice.Set.Layers[layer], ae => new Lazy<Tensor>(() => Keep(() =>
        {
            var wOut = MlpOut(layer);
            var slices = new List<Tensor>();
            for (long start = 0; start < ae.NLatents; start += 4096)
            {
                using var slice = ae.DecoderWeight.narrow(1, start, Math.Min(4096, ae.NLatents - start));
                slices.Add(wOut.matmul(slice).t());
            }
            return cat(slices, 0);
        }))).Value;

    /// <summary>Disposes the cached norms (the model's own weights belong to the model).</summary>
    public void Dispose()
    {
        foreach (var norms in _neuronNorms.Values.Concat(_latentNorms.Values).Concat(_latentWrites.Values))
            if (norms.IsValueCreated) norms.Value.Dispose();
    }

    /// <summary>Computes a tensor outside every dispose scope and without autograd, to be kept for the engine's life.</summary>
    private static Tensor Keep(Func<Tensor> compute)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return compute().contiguous().DetachFromDisposeScope();
    }
}
