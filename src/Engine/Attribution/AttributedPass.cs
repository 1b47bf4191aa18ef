using ReconService.Engine.Hooks;
using ReconService.Engine.Model;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>
/// One hooked forward pass over a batch of equal-length sequences <c>[B, T]</c>, as TDB's
/// <c>run_inference_and_populate_raw_store</c> runs it: ablating hooks first, then saving hooks, then (in <c>fwd2</c>)
/// the spliced autoencoders. With <see cref="Record"/> it keeps every activation the derived scalars need, attached to
/// the graph where a gradient is wanted (the token embedding is the graph's leaf). Can start at any layer from a given
/// residual (verification re-runs).
/// </summary>
internal sealed class AttributedPass(Transformer model, AttributionPlan plan, IReadOnlyList<ResolvedAblation> ablations)
{
    /// <summary>Keep activations for derived scalars (else only the logits are produced).</summary>
    public bool Record { get; init; }
    /// <summary>Build the autograd graph (the embedding is a leaf that requires grad).</summary>
    public bool WithGrad { get; init; }
    /// <summary>Keep the residual before every layer, detached, for verification re-runs.</summary>
    public bool KeepLayerInputs { get; init; }
    /// <summary>Position whose logits are computed, or null for all positions.</summary>
    public int? LogitPosition { get; init; }

    /// <summary><c>resid.post_emb</c> <c>[B, T, d_model]</c> (the leaf when <see cref="WithGrad"/>).</summary>
    public Tensor Embedding { get; private set; } = null!;
    /// <summary>Per layer: <c>attn.qk_probs</c> after ablation <c>[B, q, k, heads]</c>.</summary>
    public Tensor?[] Probs { get; } = new Tensor?[model.Config.NLayers];
    /// <summary>Per layer: V <c>[B, T, heads, d_head]</c>, detached.</summary>
    public Tensor?[] Values { get; } = new Tensor?[model.Config.NLayers];
    /// <summary>Per layer: <c>mlp.post_act</c> after ablation, before any splice <c>[B, T, d_ff]</c>.</summary>
    public Tensor?[] PostAct { get; } = new Tensor?[model.Config.NLayers];
    /// <summary>Per layer: <c>resid.delta_mlp</c> before any splice there <c>[B, T, d_model]</c> (its gradient is the residual-space
    /// gradient of an <c>mlp.post_act</c> autoencoder's output).</summary>
    public Tensor?[] DeltaMlp { get; } = new Tensor?[model.Config.NLayers];
    /// <summary>Per layer: the residual before it, detached (with <see cref="KeepLayerInputs"/>).</summary>
    public Tensor?[] LayerInputs { get; } = new Tensor?[model.Config.NLayers];
    /// <summary>Spliced autoencoders' records by (splice index, layer).</summary>
    public Dictionary<(int Splice, int Layer), SpliceRecord> Splices { get; } = [];
    /// <summary>The final residual <c>[B, T, d_model]</c> (last layer's <c>resid.post_mlp</c>).</summary>
    public Tensor FinalResidual { get; private set; } = null!;
    /// <summary>The residual the traced node reads, when tracing and the pass reached it.</summary>
    public Tensor? TraceResidual { get; private set; }
    /// <summary>Logits <c>[B, T, n_vocab]</c>, or <c>[B, 1, n_vocab]</c> at <see cref="LogitPosition"/>.</summary>
    public Tensor Logits { get; private set; } = null!;

    /// <summary>Runs from token ids <c>[B, T]</c>.</summary>
    public void Run(Tensor tokens)
    {
        Tensor embedded;
        using (no_grad()) embedded = model.Embed(tokens, new HookTree()).Value;
        RunFrom(0, embedded);
    }

    /// <summary>Runs layers <paramref name="start"/>.. from the residual before layer <paramref name="start"/> <c>[B, T, d_model]</c>
    /// (before any <c>resid.pre</c> splice there).</summary>
    public void RunFrom(int start, Tensor residual)
    {
        using var grad = WithGrad ? enable_grad() : no_grad();
        var resid = residual.detach();
        if (WithGrad) resid.requires_grad_(true);
        if (start == 0) Embedding = resid;
        var hooks = Hooks();
        for (var l = start; l < model.Config.NLayers; l++)
        {
            if (KeepLayerInputs) LayerInputs[l] = resid.detach();
            resid = SpliceResidual(AutoencoderInputType.ResidPre, l, resid);
            // The residual an attention-side node reads, after any resid.pre splice (so latents there are upstream of it).
            if (plan.Trace is { Side: BlockSide.Attention } trace && trace.Layer == l) TraceResidual = resid;
            resid = model.Layer(l).Forward(resid, hooks).Value;
            resid = SpliceResidual(AutoencoderInputType.ResidPostMlp, l, resid);
        }
        FinalResidual = resid;
        var final = LogitPosition is int p ? resid.narrow(1, p, 1) : resid;
        Logits = model.Unembed(final, hooks).Value;
    }

    /// <summary>The splices of residual-stream families on <paramref name="point"/> at <paramref name="layer"/>, between layers.</summary>
    private Tensor SpliceResidual(AutoencoderInputType point, int layer, Tensor resid)
    {
        foreach (var family in plan.Splices)
            if (family.Side == BlockSide.Residual && family.Set.InputType == point && family.Set.Layers.ContainsKey(layer))
                resid = Splice(family, layer, resid, resid);
        return resid;
    }

    /// <summary>Runs one family's splice at <paramref name="layer"/>: <paramref name="x"/> encoded, <paramref name="y"/> replaced.</summary>
    private Tensor Splice(SplicedFamily family, int layer, Tensor x, Tensor y)
    {
        var mine = ablations.Where(a => a.Splice == family.Index && a.Layer == layer).ToList();
        // Without latent or error ablations a splice's output is its input: only a recording pass needs it.
        if (!Record && mine.Count == 0) return y;
        var output = AutoencoderSplice.Run(family.Set.Layers[layer], x, y,
            [.. mine.Where(a => a.Target == AblationTarget.Latent)], [.. mine.Where(a => a.Target == AblationTarget.Error)],
            perTokenError: !family.WritesThroughMlpOut, out var record);
        if (Record) Splices[(family.Index, layer)] = record;
        return output;
    }

    private HookTree Hooks()
    {
        var hooks = new HookTree();
        foreach (var a in ablations)
        {
            if (a.Target is not (AblationTarget.Neuron or AblationTarget.Head)) continue;
            var location = a.Target == AblationTarget.Neuron ? "resid.torso.mlp.post_act.fwd" : "resid.torso.attn.qk_probs.fwd";
            hooks.Append(location, (x, _) =>
            {
                var y = x.Value.clone();
                y[AutoencoderSplice.Index(a.Indices)] = tensor(a.Value, y.dtype, y.device);
                return y;
            }, [a.Layer]);
        }
        if (Record)
        {
            hooks.Append("resid.torso.attn.qk_probs.fwd", Save(Probs));
            hooks.Append("resid.torso.attn.v.fwd", (x, c) => { Values[c.Layer!.Value] = x.Value.detach(); return x; });
            hooks.Append("resid.torso.mlp.post_act.fwd", Save(PostAct));
            hooks.Append("resid.torso.delta_mlp.fwd", Save(DeltaMlp));
        }
        // In fwd2, in this order: splices on the residual and block outputs; then transcoders' inputs (read after any
        // resid.post_attn splice, as the MLP reads it); then the residual an MLP-side traced node reads.
        foreach (var splice in plan.Splices.Where(s => s.Location is not null && !s.IsTranscoder))
        {
            var family = splice;
            hooks.Append(family.Location + ".fwd2", (x, c) => Splice(family, c.Layer!.Value, x.Value, x.Value), family.Set.Layers.Keys);
        }
        var transcoderInputs = new Dictionary<(int Splice, int Layer), Tensor>();
        foreach (var splice in plan.Splices.Where(s => s.IsTranscoder))
        {
            var family = splice;
            hooks.Append(family.InputLocation + ".fwd2", (x, c) => { transcoderInputs[(family.Index, c.Layer!.Value)] = x.Value; return x; },
                family.Set.Layers.Keys);
            hooks.Append(family.Location + ".fwd2", (y, c) =>
            {
                var layer = c.Layer!.Value;
                transcoderInputs.Remove((family.Index, layer), out var x);
                return Splice(family, layer, x!, y.Value);
            }, family.Set.Layers.Keys);
        }
        if (plan.Trace is { Side: BlockSide.Mlp } trace)
            hooks.Append("resid.torso.post_attn.fwd2", (x, _) => { TraceResidual = x.Value; return x; }, [trace.Layer]);
        // TDB's UI adds a backward-pass ablation of the final layer norm's scale: the scale is a constant for the gradient.
        if (plan.Spec.DetachLayerNormScale) hooks.Append("resid.ln_f.scale.fwd", StandardHooks.Detach);
        return hooks;
    }

    private static ForwardHook Save(Tensor?[] into) => (x, c) =>
    {
        into[c.Layer!.Value] = x.Value;
        return x;
    };
}
