using ReconService.Engine.Model;
using ReconService.Models.Wire;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>
/// TDB's derived scalars for every node family, computed group, and layer, each <c>[B, ...node shape]</c>, from one
/// recorded pass and its gradients (formulas: <c>../shared/golden/attribution/README.md</c>), handed one family and
/// layer at a time to a <see cref="ReducedScalars"/> and disposed once reduced: layer by layer (the embedding first),
/// every family at a layer, then the layer's recorded activations and gradients are released. A head's write norm and
/// direction write are its probability times per-key quantities (<c>||v W_O||</c>, <c>v . (g W_O)</c>): no
/// <c>[q, k, heads, d_model]</c> write vectors are ever built. Latent scalars touch only latents active in the batch.
/// </summary>
internal static class DerivedScalars
{
    /// <param name="plan">The plan.</param>
    /// <param name="pass">The recorded pass.</param>
    /// <param name="gradient">The objective's gradient with respect to a recorded tensor (zeros when it has none).</param>
    /// <param name="direction">The gradient at the final residual, or at the traced node's residual <c>[B, T, d_model]</c>.</param>
    /// <param name="weights">Model weights and cached norms.</param>
    /// <param name="config">Model sizes.</param>
    /// <param name="into">Receives each family's scalars at each layer.</param>
    /// <param name="layerDone">Called once every family at a layer has been reduced (not for the embedding).</param>
    public static void Compute(AttributionPlan plan, AttributedPass pass, Func<Tensor, Tensor> gradient, Tensor? direction,
        AttributionWeights weights, GptConfig config, ReducedScalars into, Action<int> layerDone)
    {
        using var _ = no_grad();
        var groups = plan.ComputedGroups;
        IEnumerable<int?> layers = [null, .. Enumerable.Range(0, config.NLayers).Select(l => (int?)l)];
        foreach (var layer in layers)
        {
            for (var f = 0; f < plan.Families.Count; f++)
            {
                var family = plan.Families[f];
                if (!family.LayerKeys.Contains(layer)) continue;
                using var scope = NewDisposeScope();
                var counts = DirectionCounts(plan.Trace, family, layer);
                var scalars = family.Kind switch
                {
                    FamilyKind.Embedding => Embedding(pass.Embedding, gradient, direction),
                    FamilyKind.Neurons => Neurons(pass.PostAct[layer!.Value]!, gradient, direction, weights, layer.Value),
                    FamilyKind.Heads => Heads(pass.Probs[layer!.Value]!, pass.Values[layer.Value]!, gradient, direction, weights.AttentionOut(layer.Value), config),
                    FamilyKind.Latents => Latents(family.Splice!, pass.Splices[(family.Splice!.Index, layer!.Value)], pass.DeltaMlp[layer.Value],
                        gradient, direction, weights, layer.Value),
                    _ => Errors(family.Splice!, pass.Splices[(family.Splice!.Index, layer!.Value)], gradient, direction, weights, layer.Value),
                };
                into.Add(f, layer, groups.ToDictionary(g => g, g => g == AttributionGroup.DirectionWrite && !counts
                    ? zeros_like(scalars.Activation.Value)
                    : g switch
                    {
                        AttributionGroup.Activation => scalars.Activation.Value,
                        AttributionGroup.ActTimesGrad => scalars.ActTimesGrad.Value,
                        AttributionGroup.WriteNorm => scalars.WriteNorm.Value,
                        _ => scalars.DirectionWrite.Value,
                    }));
            }
            if (layer is int l) layerDone(l);
        }
    }

    /// <summary>The four scalars of one family at one layer, each computed only when read.</summary>
    private sealed record Scalars(Lazy<Tensor> Activation, Lazy<Tensor> ActTimesGrad, Lazy<Tensor> WriteNorm, Lazy<Tensor> DirectionWrite)
    {
        public Scalars(Func<Tensor> activation, Func<Tensor> actTimesGrad, Func<Tensor> writeNorm, Func<Tensor> directionWrite)
            : this(new Lazy<Tensor>(activation), new Lazy<Tensor>(actTimesGrad), new Lazy<Tensor>(writeNorm), new Lazy<Tensor>(directionWrite)) { }
    }

    /// <summary>
    /// Whether a node's write counts for the direction write: always for a loss; for a trace only when the node lies
    /// before the residual the traced node reads, in forward order (<see cref="NodeFamily.Stage"/>): an attention-side node
    /// at layer L reads the residual after any <c>resid.pre</c> splice at L, an MLP-side node <c>resid.post_attn</c> of L
    /// after any splice there (so same-layer attention counts for an MLP-side node).
    /// </summary>
    private static bool DirectionCounts(ResolvedTrace? trace, NodeFamily family, int? layer)
    {
        if (trace is null || layer is not int l) return true;
        var reads = trace.Side == BlockSide.Mlp ? 2 : 0;
        return l < trace.Layer || (l == trace.Layer && family.Stage <= reads);
    }

    private static Tensor Dot(Tensor a, Tensor b) => (a * b).sum(-1, keepdim: true);

    /// <summary>
    /// <paramref name="product"/> (a map of rows <c>[N, w] -> [N, out]</c> that sends zero rows to zero) of <paramref name="v"/>
    /// <c>[B, T, w]</c>, computed on its non-zero rows only: a loss's gradient at the final residual is zero but at the loss
    /// position, and a trace's gradients are zero after the traced token.
    /// </summary>
    private static Tensor OnRows(Tensor v, Func<Tensor, Tensor> product)
    {
        var rows = v.reshape(-1, v.shape[^1]);
        var nonZero = rows.ne(0).any(1).nonzero().squeeze(1);
        if (nonZero.shape[0] == rows.shape[0]) return product(v);
        var selected = product(rows.index_select(0, nonZero));
        return zeros(rows.shape[0], selected.shape[^1], device: v.device).index_copy_(0, nonZero, selected).reshape(v.shape[0], v.shape[1], -1);
    }

    private static Scalars Embedding(Tensor embedding, Func<Tensor, Tensor> gradient, Tensor? g)
    {
        var emb = embedding.detach();
        return new(() => ones(emb.shape[0], emb.shape[1], 1, device: emb.device), () => Dot(emb, gradient(embedding)),
            () => emb.norm(-1, keepdim: true), () => Dot(emb, g!));
    }

    private static Scalars Neurons(Tensor postAct, Func<Tensor, Tensor> gradient, Tensor? g, AttributionWeights weights, int layer)
    {
        var a = postAct.detach();
        return new(() => a, () => a * gradient(postAct), () => a * weights.NeuronWriteNorms(layer),
            () => a * OnRows(g!, rows => rows.matmul(weights.MlpOut(layer))));
    }

    private static Scalars Heads(Tensor probs, Tensor values, Func<Tensor, Tensor> gradient, Tensor? g, Tensor attentionOut, GptConfig config)
    {
        var p = probs.detach();
        var wO = attentionOut.view(config.DModel, config.NHeads, config.DHead); // [d_model, heads, d_head]
        return new(() => p, () => p * gradient(probs),
            () =>
            {
                var keyWriteNorms = einsum("bkhe,dhe->bkhd", values, wO).norm(-1); // [B, k, heads]: ||v[k, h] W_O[h]||
                return p.abs() * keyWriteNorms.unsqueeze(1);
            },
            () =>
            {
                var gradientThroughOut = einsum("bqd,dhe->bqhe", g!, wO); // [B, q, heads, d_head]
                return p * einsum("bkhe,bqhe->bqkh", values, gradientThroughOut);
            });
    }

    /// <summary>
    /// Latents: act × grad <c>z_j (w_j . grad)</c> and direction write <c>z_j (w_j . g)</c> with <c>w_j</c> the latent's
    /// write in the space of its input (resid AEs: <c>W_dec[:, j]</c> against the gradient at the splice's output) or, for
    /// <c>mlp.post_act</c> AEs, in the residual stream (<c>W_out W_dec[:, j]</c> against the gradient at <c>resid.delta_mlp</c>,
    /// the same number: the splice's output only feeds <c>W_out</c>). Only active latents can be non-zero.
    /// </summary>
    private static Scalars Latents(SplicedFamily splice, SpliceRecord record, Tensor? deltaMlp, Func<Tensor, Tensor> gradient, Tensor? g,
        AttributionWeights weights, int layer)
    {
        var decoder = splice.Set.Layers[layer].DecoderWeight; // [n_out, n_latents]
        var z = record.Latents;
        // A normalising autoencoder's latent j writes Scale[t] W_dec[:, j] at token t: its act scaled per token.
        var act = record.Scale is null ? z : z * record.Scale;
        var active = new Lazy<Tensor>(() => AutoencoderSplice.Active(z));
        Tensor OnWrites(Tensor v) // act[..., j] * (v . w_j), v [B, T, width of w]
        {
            var sparse = AutoencoderSplice.Sparse(active.Value, z.shape[^1]);
            if (!sparse)
                return act * OnRows(v, rows => splice.WritesThroughMlpOut ? rows.matmul(weights.LatentWrites(splice, layer).t()) : rows.matmul(decoder));
            var index = active.Value;
            var columns = splice.WritesThroughMlpOut ? weights.LatentWrites(splice, layer).index_select(0, index).t() : decoder.index_select(1, index);
            return zeros_like(z).index_copy_(z.dim() - 1, index, act.index_select(-1, index) * OnRows(v, rows => rows.matmul(columns)));
        }
        return new(() => z, () => OnWrites(gradient(splice.WritesThroughMlpOut ? deltaMlp! : record.Output)),
            () => act * weights.LatentWriteNorms(splice, layer), () => OnWrites(g!));
    }

    private static Scalars Errors(SplicedFamily splice, SpliceRecord record, Func<Tensor, Tensor> gradient, Tensor? g,
        AttributionWeights weights, int layer)
    {
        var error = AutoencoderSplice.Error(splice.Set.Layers[layer], record.Input, record.Replaced, record.Unablated, record.Scale); // [B, T, n_out]
        if (splice.WritesThroughMlpOut)
            return new(() => error, () => error * gradient(record.Output), () => error * weights.NeuronWriteNorms(layer),
                () => error * OnRows(g!, rows => rows.matmul(weights.MlpOut(layer))));
        var norm = new Lazy<Tensor>(() => error.norm(-1, keepdim: true));
        return new(() => norm.Value, () => Dot(error, gradient(record.Output)), () => norm.Value, () => Dot(error, g!));
    }
}
