using ReconService.Models;
using ReconService.Models.Wire;

namespace ReconService.Engine.Attribution;

/// <summary>
/// What an attribution computes: TDB's node table over one or more token sequences (its activation server's
/// <c>multiple_top_k_derived_scalars</c> request, plus what that server cannot do). Validated by
/// <see cref="AttributionEngine.Plan"/>; every error names the request field (<c>ablations[1].tensorIndices</c>).
/// </summary>
public sealed record AttributionSpec
{
    /// <summary>Token ids of each sequence (lengths may differ; none is padded).</summary>
    public required IReadOnlyList<IReadOnlyList<int>> Sequences { get; init; }
    /// <summary>Whether the answer is a batch (<c>results</c>) even for one sequence.</summary>
    public bool Batched { get; init; }
    /// <summary>The request field the sequences came from, for errors: <c>tokens</c>, <c>prompt</c> or <c>prompts</c>
    /// (a batch's sequence i is <c>&lt;field&gt;[i]</c>).</summary>
    public string TokensField { get; init; } = "tokens";
    /// <summary>The loss; required unless <see cref="Trace"/> is given, and with a <c>V</c> trace.</summary>
    public AttributionLossSpec? Loss { get; init; }
    /// <summary>The traced node, when attributing to a node's pre-activation instead of a loss.</summary>
    public AttributionTraceSpec? Trace { get; init; }
    /// <summary>Autoencoder families spliced into the forward pass (TDB's <c>AutoencoderHooks(add_error=True)</c>).</summary>
    public IReadOnlyList<string> Autoencoders { get; init; } = [];
    /// <summary>Forward-pass ablations, applied to every sequence.</summary>
    public IReadOnlyList<AttributionAblationSpec> Ablations { get; init; } = [];
    /// <summary>Groups, in the order the node table is built; null for TDB's four in TDB's order.</summary>
    public IReadOnlyList<AttributionGroup>? Groups { get; init; }
    /// <summary>Top and bottom k per group and node kind (TDB's <c>top_and_bottom_k</c>).</summary>
    public int TopK { get; init; } = 10;
    /// <summary>Return every derived scalar's full tensor and the logits.</summary>
    public bool Dense { get; init; }
    /// <summary>TDB's detachments: the final layer norm's scale for a loss, the traced node's own scale for a trace.</summary>
    public bool DetachLayerNormScale { get; init; } = true;
    /// <summary>Nodes of largest |act × grad| to verify with an ablated forward each.</summary>
    public int VerifyTopN { get; init; }

    /// <summary>TDB's group order (<c>tdb_conversions.make_grouped_dsts_per_component</c>).</summary>
    public static IReadOnlyList<AttributionGroup> DefaultGroups { get; } =
        [AttributionGroup.WriteNorm, AttributionGroup.ActTimesGrad, AttributionGroup.DirectionWrite, AttributionGroup.Activation];

    /// <summary>
    /// The spec of a wire request whose sequences the caller has already tokenized (<c>tokens</c>, or <c>prompt</c> /
    /// <c>prompts</c> through the tokenizer).
    /// </summary>
    /// <param name="request">The wire request.</param>
    /// <param name="sequences">Token ids of each sequence.</param>
    /// <param name="batched">Whether the request named a batch (<c>tokens</c> as lists, or <c>prompts</c>).</param>
    /// <param name="tokensField">The field the sequences came from: <c>tokens</c>, <c>prompt</c> or <c>prompts</c>.</param>
    public static AttributionSpec FromWire(AttributionRequest request, IReadOnlyList<IReadOnlyList<int>> sequences, bool batched,
        string tokensField = "tokens") => new()
    {
        Sequences = sequences,
        Batched = batched,
        TokensField = tokensField,
        Loss = request.Loss is { } l ? new AttributionLossSpec(l.Name, l.TargetTokens, l.DistractorTokens ?? [], l.Position) : null,
        Trace = request.Trace is { } t
            ? new AttributionTraceSpec(t.NodeType, t.LayerIndex, t.TensorIndices, t.AttentionTraceType, t.Autoencoder)
            : null,
        Autoencoders = request.Autoencoders ?? [],
        Ablations = (request.Ablations ?? []).Select(a =>
            new AttributionAblationSpec(a.NodeType, a.LayerIndex, [.. a.TensorIndices.Select(i => i.Index)], a.Value, a.Autoencoder)).ToList(),
        Groups = request.Groups,
        TopK = request.TopK,
        Dense = request.Dense,
        DetachLayerNormScale = request.DetachLayerNormScale,
        VerifyTopN = request.VerifyTopN,
    };
}

/// <summary>The loss (TDB's <c>LossFnConfig</c>), read from the logits at one position of each sequence.</summary>
/// <param name="Name"><c>logit_diff</c>: mean target logit minus mean distractor logit; <c>probs</c>: summed target
/// probability; <c>logprob</c>: its logarithm.</param>
/// <param name="TargetTokens">At least one token id.</param>
/// <param name="DistractorTokens"><c>logit_diff</c> only; may be empty (then the loss is the mean target logit).</param>
/// <param name="Position">Token position; negative counts from the end (TDB always uses -1).</param>
public sealed record AttributionLossSpec(AttributionLossName Name, IReadOnlyList<int> TargetTokens, IReadOnlyList<int> DistractorTokens, int Position = -1);

/// <summary>
/// The traced node (TDB's <c>TraceConfig</c> with <c>pre_or_post_act = pre</c>): the backward pass starts from its
/// pre-activation recomputed from the residual stream before it, with its own layer norm's scale detached.
/// </summary>
/// <param name="NodeType">mlp_neuron, attention_head, or a latent node type.</param>
/// <param name="LayerIndex">Layer of the node.</param>
/// <param name="TensorIndices"><c>[token, unit]</c> or <c>[q, k, head]</c>.</param>
/// <param name="AttentionTraceType">Heads only: QK, Q, K or V.</param>
/// <param name="Autoencoder">Latents: the spliced family, when several could serve.</param>
public sealed record AttributionTraceSpec(NodeType NodeType, int LayerIndex, IReadOnlyList<long> TensorIndices,
    AttributionTraceType? AttentionTraceType = null, string? Autoencoder = null);

/// <summary>
/// An ablation (TDB's <c>NodeAblation</c> / <c>AblationSpec</c>): during the forward pass the activation is set to
/// <see cref="Value"/> on a copy, so no gradient flows through the ablated entries. Heads ablate <c>attn.qk_probs</c>
/// <c>[q, k, head]</c> without renormalising; neurons <c>mlp.post_act</c>; latents only the reconstruction path.
/// </summary>
/// <param name="NodeType">mlp_neuron, attention_head, or a latent node type.</param>
/// <param name="LayerIndex">Layer of the node.</param>
/// <param name="TensorIndices">One entry per activation axis; null is TDB's <c>"All"</c>.</param>
/// <param name="Value">Value written.</param>
/// <param name="Autoencoder">Latents: the spliced family, when several could serve.</param>
public sealed record AttributionAblationSpec(NodeType NodeType, int LayerIndex, IReadOnlyList<long?> TensorIndices, double Value = 0,
    string? Autoencoder = null);
