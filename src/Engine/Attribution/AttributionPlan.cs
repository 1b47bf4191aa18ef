using ReconService.Engine.Autoencoders;
using ReconService.Models;
using ReconService.Models.Wire;

namespace ReconService.Engine.Attribution;

/// <summary>
/// A validated attribution, ready to run: what <see cref="AttributionEngine.Plan"/> returns and
/// <see cref="AttributionEngine.Run"/> takes. It knows the answer's tensors and the working memory before any tensor work.
/// </summary>
public sealed class AttributionPlan
{
    internal AttributionPlan(AttributionSpec spec, IReadOnlyList<AttributionGroup> groups, IReadOnlyList<SplicedFamily> splices,
        IReadOnlyList<ResolvedAblation> ablations, ResolvedTrace? trace, IReadOnlyList<NodeFamily> families,
        IReadOnlyList<PlannedTensor> tensors, long workingMemoryBytes)
    {
        Spec = spec;
        Groups = groups;
        Splices = splices;
        Ablations = ablations;
        Trace = trace;
        Families = families;
        Tensors = tensors;
        WorkingMemoryBytes = workingMemoryBytes;
    }

    /// <summary>The request as given.</summary>
    public AttributionSpec Spec { get; }

    /// <summary>Groups in node-table order.</summary>
    public IReadOnlyList<AttributionGroup> Groups { get; }

    /// <summary>Every tensor of the answer, per sequence, with its shape (before any <c>output</c> reduction).</summary>
    public IReadOnlyList<PlannedTensor> Tensors { get; }

    /// <summary>Values of the answer's tensors (the sum of their element counts).</summary>
    public long ResponseElements => Tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>Most node-table rows the answer can hold, per sequence (top and bottom k per group and node kind).</summary>
    public long MaxNodeTableRows => (long)Groups.Count * Families.Count * 2 * Spec.TopK;

    /// <summary>Estimated peak working memory in bytes (activations kept for the backward pass, derived scalars, answer).</summary>
    public long WorkingMemoryBytes { get; }

    internal IReadOnlyList<SplicedFamily> Splices { get; }
    internal IReadOnlyList<ResolvedAblation> Ablations { get; }
    internal ResolvedTrace? Trace { get; }
    internal IReadOnlyList<NodeFamily> Families { get; }

    /// <summary>Groups computed: the requested ones, plus act × grad when nodes are verified.</summary>
    internal IReadOnlyList<AttributionGroup> ComputedGroups =>
        Spec.VerifyTopN > 0 && !Groups.Contains(AttributionGroup.ActTimesGrad) ? [.. Groups, AttributionGroup.ActTimesGrad] : Groups;

    /// <summary>Whether a backward pass is needed (act × grad, direction write, or verification).</summary>
    internal bool NeedsGradient => ComputedGroups.Any(g => g is AttributionGroup.ActTimesGrad or AttributionGroup.DirectionWrite);
}

/// <summary>One tensor of the answer.</summary>
/// <param name="Sequence">Index of the sequence it belongs to.</param>
/// <param name="Path">Its name: the keys on its path joined with <c>/</c> (<c>logits</c>, <c>sums/act_times_grad/mlp_act_times_grad</c>,
/// <c>scalars/activation/attn_qk_probs/0</c>).</param>
/// <param name="Shape">Its shape.</param>
public sealed record PlannedTensor(int Sequence, string Path, long[] Shape);

/// <summary>An autoencoder family spliced into the forward pass, and where.</summary>
/// <param name="Set">The family.</param>
/// <param name="Index">Its position in the request's <c>autoencoders</c>.</param>
/// <param name="Side">Which block it replaces nodes of (<see cref="BlockSide.Residual"/>: none, it splices into the residual stream).</param>
internal sealed record SplicedFamily(AutoencoderSet Set, int Index, BlockSide Side)
{
    /// <summary>Whether the family is a transcoder: it reads <see cref="InputLocation"/> and replaces the MLP's output.</summary>
    public bool IsTranscoder => Set.OutputType is not null;

    /// <summary>
    /// Hook location whose value the splice replaces (TDB injects its <c>AutoencoderHooks</c> there, in <c>fwd2</c>): the
    /// encoded activation itself, or for a transcoder the MLP's output. Null for <c>resid.pre</c> and <c>resid.post_mlp</c>,
    /// which <see cref="AttributedPass"/> splices between layers.
    /// </summary>
    public string? Location => IsTranscoder ? "resid.torso.delta_mlp" : Set.InputType switch
    {
        AutoencoderInputType.MlpPostAct => "resid.torso.mlp.post_act",
        AutoencoderInputType.ResidDeltaMlp => "resid.torso.delta_mlp",
        AutoencoderInputType.ResidDeltaAttn => "resid.torso.delta_attn",
        AutoencoderInputType.ResidPostAttn => "resid.torso.post_attn",
        AutoencoderInputType.ResidPre or AutoencoderInputType.ResidPostMlp => null,
        _ => throw new NotSupportedException($"Autoencoders on {Set.InputType} cannot be spliced"),
    };

    /// <summary>For a transcoder: the hook location of the activation it encodes (<c>ln_2.normalized</c> or <c>resid.post_attn</c>).</summary>
    public string? InputLocation => !IsTranscoder ? null : Set.InputType switch
    {
        AutoencoderInputType.Ln2Normalized => "resid.torso.ln_mlp.post_scale",
        AutoencoderInputType.ResidPostAttn => "resid.torso.post_attn",
        _ => throw new NotSupportedException($"Transcoders reading {Set.InputType} cannot be spliced"),
    };

    /// <summary>Whether its decoder writes through the MLP's output weights (<c>mlp.post_act</c>, width d_ff).</summary>
    public bool WritesThroughMlpOut => !IsTranscoder && Set.InputType == AutoencoderInputType.MlpPostAct;

    /// <summary>
    /// Where its nodes sit in a layer's forward order, for traces (which nodes lie before the residual a traced node reads):
    /// <c>resid.pre</c> 0, attention 1, <c>resid.post_attn</c> 2, MLP 3, <c>resid.post_mlp</c> 4.
    /// </summary>
    public int Stage => Side switch
    {
        BlockSide.Attention => 1,
        BlockSide.Mlp => 3,
        _ => Set.InputType switch
        {
            AutoencoderInputType.ResidPre => 0,
            AutoencoderInputType.ResidPostAttn => 2,
            _ => 4,
        },
    };
}

/// <summary>Which block's nodes a family stands for (TDB replaces neurons by MLP latents, heads by attention latents).</summary>
internal enum BlockSide
{
    /// <summary>The MLP block (neurons; <c>mlp.post_act</c>, <c>resid.delta_mlp</c> autoencoders; transcoders).</summary>
    Mlp,
    /// <summary>The attention block (heads; <c>resid.delta_attn</c> autoencoders).</summary>
    Attention,
    /// <summary>The residual stream between blocks (<c>resid.pre</c>, <c>resid.post_attn</c>, <c>resid.post_mlp</c> autoencoders): replaces no nodes.</summary>
    Residual,
}

/// <summary>What an ablation writes to.</summary>
internal enum AblationTarget
{
    /// <summary><c>mlp.post_act</c> <c>[t, neuron]</c>.</summary>
    Neuron,
    /// <summary><c>attn.qk_probs</c> <c>[q, k, head]</c>.</summary>
    Head,
    /// <summary>A spliced family's latents <c>[t, latent]</c> (reconstruction path only).</summary>
    Latent,
    /// <summary>A spliced family's error <c>[t, unit]</c> (per token for residual-basis errors); verification only.</summary>
    Error,
    /// <summary>The token embedding <c>[t, 0]</c>; verification only.</summary>
    Embedding,
}

/// <summary>A validated ablation.</summary>
/// <param name="Target">What it writes to.</param>
/// <param name="Layer">Layer (unused for <see cref="AblationTarget.Embedding"/>).</param>
/// <param name="Indices">Per activation axis (batch excluded); null is "All".</param>
/// <param name="Value">Value written.</param>
/// <param name="Splice">For latents and errors: index into <see cref="AttributionPlan.Splices"/>.</param>
internal sealed record ResolvedAblation(AblationTarget Target, int Layer, long?[] Indices, double Value, int Splice = -1);

/// <summary>A validated trace.</summary>
/// <param name="NodeType">The traced node type.</param>
/// <param name="Layer">Its layer.</param>
/// <param name="Indices">Its indices.</param>
/// <param name="TraceType">Heads: QK, Q, K or V.</param>
/// <param name="Side">Which block the node belongs to: MLP-side nodes read <c>resid.post_attn</c> of their layer,
/// attention-side nodes the residual before their layer.</param>
/// <param name="Splice">Latents: index into <see cref="AttributionPlan.Splices"/>.</param>
internal sealed record ResolvedTrace(NodeType NodeType, int Layer, long[] Indices, AttributionTraceType? TraceType, BlockSide Side, int Splice = -1);
