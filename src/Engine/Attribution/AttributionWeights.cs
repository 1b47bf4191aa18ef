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
/// weights). The model is read, never changed.
/// </summary>
internal sealed class AttributionWeights(Transformer model) : IDisposable
{
    private readonly Dictionary<string, Tensor> _parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
    private readonly ConcurrentDictionary<int, Lazy<Tensor>> _neuronNorms = new();
    private readonly ConcurrentDictionary<Autoencoder, Lazy<Tensor>> _latentNorms = new(ReferenceEqualityComparer.Instance);

    /// <summary>The attention output projection <c>W_O</c> of <paramref name="layer"/>, <c>[d_model, heads * d_head]</c>.</summary>
    public Tensor AttentionOut(int layer) => _parameters[$"xf_layers.{layer}.attn.out_proj.weight"];

    /// <summary>The MLP output weights <c>W_out</c> of <paramref name="layer"/>, <c>[d_model, d_ff]</c>.</summary>
    public Tensor MlpOut(int layer) => _parameters[$"xf_layers.{layer}.mlp.out_layer.weight"];

    /// <summary><c>||W_out[:, i]||</c> per neuron of <paramref name="layer"/>, <c>[d_ff]</c>.</summary>
    public Tensor NeuronWriteNorms(int layer) =>
        _neuronNorms.GetOrAdd(layer, l => new Lazy<Tensor>(() => Keep(() => MlpOut(l).norm(0)))).Value;

    /// <summary><c>||w_j||</c> per latent of a spliced autoencoder at <paramref name="layer"/>, <c>[n_latents]</c>.</summary>
    public Tensor LatentWriteNorms(SplicedFamily splice, int layer)
    {
        var autoencoder = splice.Set.Layers[layer];
        return _latentNorms.GetOrAdd(autoencoder, ae => new Lazy<Tensor>(() => Keep(() =>
        {
            if (!splice.WritesThroughMlpOut) return ae.DecoderWeight.norm(0);
            // W_out W_dec is [d_model, n_latents]; computed in slices of latents to bound the temporary.
            var wOut = MlpOut(layer);
            var slices = new List<Tensor>();
            for (long start = 0; start < ae.NLatents; start += 4096)
            {
                using var slice = ae.DecoderWeight.narrow(1, start, Math.Min(4096, ae.NLatents - start));
                slices.Add(wOut.matmul(slice).norm(0));
            }
            return cat(slices, 0);
        }))).Value;
    }

    /// <summary>Disposes the cached norms (the model's own weights belong to the model).</summary>
    public void Dispose()
    {
        foreach (var norms in _neuronNorms.Values.Concat(_latentNorms.Values))
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
