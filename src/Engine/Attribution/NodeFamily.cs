using ReconService.Engine.Model;
using ReconService.Models;
using ReconService.Models.Wire;

namespace ReconService.Engine.Attribution;

/// <summary>What kind of nodes a family holds.</summary>
internal enum FamilyKind
{
    /// <summary>Token embeddings, one per position (TDB's <c>layer</c> nodes, <c>[t, 0]</c>).</summary>
    Embedding,
    /// <summary>MLP neurons <c>[t, neuron]</c>.</summary>
    Neurons,
    /// <summary>Attention query-key pairs per head <c>[q, k, head]</c>.</summary>
    Heads,
    /// <summary>A spliced autoencoder's latents <c>[t, latent]</c>.</summary>
    Latents,
    /// <summary>A spliced autoencoder's error: per neuron for <c>mlp.post_act</c>, else one node per token <c>[t, 0]</c>.</summary>
    Errors,
}

/// <summary>
/// One kind of node in the node table, over the layers where it exists: in each group it is one TDB derived scalar type
/// (DST), e.g. neurons are <c>mlp_post_act</c>, <c>mlp_act_times_grad</c>, <c>mlp_write_norm</c>,
/// <c>mlp_write_to_final_residual_grad</c>. TDB takes the top and bottom k of each DST separately.
/// </summary>
/// <param name="Kind">Node kind.</param>
/// <param name="NodeType">The node type rows carry.</param>
/// <param name="Layers">Layers where it exists; empty for the embedding (layer "none").</param>
/// <param name="Splice">For latents and errors: the spliced family.</param>
/// <param name="Suffix">Appended to DST names to tell apart several spliced families of one node type (<c>:name</c>), else empty.</param>
internal sealed record NodeFamily(FamilyKind Kind, AttributionNodeType NodeType, IReadOnlyList<int> Layers, SplicedFamily? Splice = null, string Suffix = "")
{
    /// <summary>Whether the family lives outside the layers (the embedding).</summary>
    public bool LayerLess => Kind == FamilyKind.Embedding;

    /// <summary>Whether error nodes are one per token (residual-basis errors) rather than one per unit.</summary>
    public bool PerToken => Kind == FamilyKind.Embedding || (Kind == FamilyKind.Errors && !Splice!.WritesThroughMlpOut);

    /// <summary>Which block's nodes these are; null for the embedding.</summary>
    public BlockSide? Side => Kind switch
    {
        FamilyKind.Neurons => BlockSide.Mlp,
        FamilyKind.Heads => BlockSide.Attention,
        FamilyKind.Latents or FamilyKind.Errors => Splice!.Side,
        _ => null,
    };

    /// <summary>Where its nodes sit in a layer's forward order (<see cref="SplicedFamily.Stage"/>): heads 1, neurons 3; -1 for the embedding.</summary>
    public int Stage => Kind switch
    {
        FamilyKind.Heads => 1,
        FamilyKind.Neurons => 3,
        FamilyKind.Latents or FamilyKind.Errors => Splice!.Stage,
        _ => -1,
    };

    /// <summary>The node shape per sequence at <paramref name="layer"/>: <c>[T, 1]</c>, <c>[T, d_ff]</c>, <c>[T, T, heads]</c>, <c>[T, n_latents]</c>.</summary>
    public long[] Shape(long tokens, GptConfig config, int? layer) => Kind switch
    {
        FamilyKind.Heads => [tokens, tokens, config.NHeads],
        FamilyKind.Neurons => [tokens, config.DFf],
        FamilyKind.Latents => [tokens, Splice!.Set.Layers[layer!.Value].NLatents],
        _ when PerToken => [tokens, 1],
        _ => [tokens, config.DFf],
    };

    /// <summary>The layer keys of <c>scalars</c>: <c>"none"</c> for the embedding, else the layer numbers.</summary>
    public IEnumerable<int?> LayerKeys => LayerLess ? [null] : Layers.Select(l => (int?)l);

    /// <summary>TDB's name of this family's DST in <paramref name="group"/>.</summary>
    public string Dst(AttributionGroup group) => Kind switch
    {
        FamilyKind.Embedding => group switch
        {
            AttributionGroup.Activation => "always_one",
            AttributionGroup.ActTimesGrad => "token_attribution",
            AttributionGroup.WriteNorm => "resid_post_embedding_norm",
            _ => "resid_post_embedding_proj_to_final_residual_grad",
        },
        FamilyKind.Neurons => group switch
        {
            AttributionGroup.Activation => "mlp_post_act",
            AttributionGroup.ActTimesGrad => "mlp_act_times_grad",
            AttributionGroup.WriteNorm => "mlp_write_norm",
            _ => "mlp_write_to_final_residual_grad",
        },
        FamilyKind.Heads => group switch
        {
            AttributionGroup.Activation => "attn_qk_probs",
            AttributionGroup.ActTimesGrad => "unflattened_attn_act_times_grad",
            AttributionGroup.WriteNorm => "unflattened_attn_write_norm",
            _ => "unflattened_attn_write_to_final_residual_grad",
        },
        FamilyKind.Latents => $"online_{Infix}autoencoder_{LatentSuffix(group)}{Suffix}",
        _ => $"online_{(Splice!.WritesThroughMlpOut ? "" : "residual_")}{Infix}autoencoder_error{ErrorSuffix(group)}{Suffix}",
    };

    /// <summary><c>mlp_</c>, <c>attention_</c> or nothing, as in TDB's latent DST names.</summary>
    private string Infix => NodeType switch
    {
        AttributionNodeType.MlpAutoencoderLatent or AttributionNodeType.MlpAutoencoderError => "mlp_",
        AttributionNodeType.AttentionAutoencoderLatent or AttributionNodeType.AttentionAutoencoderError => "attention_",
        _ => "",
    };

    private static string LatentSuffix(AttributionGroup group) => group switch
    {
        AttributionGroup.Activation => "latent",
        AttributionGroup.ActTimesGrad => "act_times_grad",
        AttributionGroup.WriteNorm => "write_norm",
        _ => "write_to_final_residual_grad",
    };

    private static string ErrorSuffix(AttributionGroup group) => group switch
    {
        AttributionGroup.Activation => "",
        AttributionGroup.ActTimesGrad => "_act_times_grad",
        AttributionGroup.WriteNorm => "_write_norm",
        _ => "_write_to_final_residual_grad",
    };

    /// <summary>
    /// The families of a request, in TDB's order (embedding, MLP side, attention side) then the residual stream's:
    /// neurons at layers without a spliced MLP-side autoencoder (transcoders included), then each MLP-side family's latents
    /// and errors; heads at layers without a spliced attention autoencoder, then each attention family's latents and
    /// errors; then each residual-stream family's latents and errors, in request order (they replace no neurons or heads).
    /// With an autoencoder at every layer this is TDB's <c>component_type_for_mlp/attention = autoencoder_latent</c>.
    /// </summary>
    public static IReadOnlyList<NodeFamily> For(IReadOnlyList<SplicedFamily> splices, int nLayers)
    {
        var families = new List<NodeFamily> { new(FamilyKind.Embedding, AttributionNodeType.Layer, []) };
        foreach (var side in new[] { BlockSide.Mlp, BlockSide.Attention, BlockSide.Residual })
        {
            var onSide = splices.Where(s => s.Side == side).ToList();
            var covered = onSide.SelectMany(s => s.Set.Layers.Keys).ToHashSet();
            var plain = Enumerable.Range(0, nLayers).Where(l => !covered.Contains(l)).ToList();
            if (plain.Count > 0 && side != BlockSide.Residual)
                families.Add(side == BlockSide.Mlp
                    ? new(FamilyKind.Neurons, AttributionNodeType.MlpNeuron, plain)
                    : new(FamilyKind.Heads, AttributionNodeType.AttentionHead, plain));
            foreach (var splice in onSide)
            {
                var layers = splice.Set.Layers.Keys.Order().ToList();
                var latentType = splice.Set.NodeType switch
                {
                    Models.NodeType.AttentionAutoencoderLatent => AttributionNodeType.AttentionAutoencoderLatent,
                    Models.NodeType.MlpAutoencoderLatent => AttributionNodeType.MlpAutoencoderLatent,
                    _ => AttributionNodeType.AutoencoderLatent,
                };
                var errorType = latentType switch
                {
                    AttributionNodeType.AttentionAutoencoderLatent => AttributionNodeType.AttentionAutoencoderError,
                    AttributionNodeType.MlpAutoencoderLatent => AttributionNodeType.MlpAutoencoderError,
                    _ => AttributionNodeType.AutoencoderError,
                };
                var suffix = splices.Count(s => s.Set.NodeType == splice.Set.NodeType) > 1 ? ":" + splice.Set.Name : "";
                families.Add(new(FamilyKind.Latents, latentType, layers, splice, suffix));
                families.Add(new(FamilyKind.Errors, errorType, layers, splice, suffix));
            }
        }
        return families;
    }
}
