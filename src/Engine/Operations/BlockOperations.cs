using ReconService.Engine.Model;
using ReconService.Models;
using static TorchSharp.torch;

namespace ReconService.Engine.Operations;

/// <summary>Attention block output <c>resid.delta_attn</c> <c>[tokens, d_model]</c> from the residual before layer <paramref name="LayerIndex"/> (TDB's <c>apply_resid_delta_attn</c>). Output <c>residDelta</c>.</summary>
public sealed record ResidDeltaAttnOperation(ITensorInput Residual, int LayerIndex, bool DetachLayerNormScale = true) : IEngineOperation<TensorResult>
{
    /// <inheritdoc />
    public EnginePlan<TensorResult> Plan(ReconstitutionEngine engine) =>
        ValueOperations.Plan(this, engine, Residual, LayerIndex, "residDelta", [engine.Config.DModel], WorkingMemory.AttentionOutput);

    /// <inheritdoc />
    public TensorResult Run(ReconstitutionEngine engine) =>
        ValueOperations.Run(engine, Residual, "residDelta", x => engine.Reconstituter.ResidDeltaAttn(x, LayerIndex, DetachLayerNormScale));
}

/// <summary>MLP block output <c>resid.delta_mlp</c> <c>[tokens, d_model]</c> from <c>resid.post_attn</c> of layer <paramref name="LayerIndex"/> (TDB's <c>apply_resid_delta_mlp</c>). Output <c>residDelta</c>.</summary>
public sealed record ResidDeltaMlpOperation(ITensorInput Residual, int LayerIndex, bool DetachLayerNormScale = true) : IEngineOperation<TensorResult>
{
    /// <inheritdoc />
    public EnginePlan<TensorResult> Plan(ReconstitutionEngine engine) =>
        ValueOperations.Plan(this, engine, Residual, LayerIndex, "residDelta", [engine.Config.DModel], WorkingMemory.Mlp);

    /// <inheritdoc />
    public TensorResult Run(ReconstitutionEngine engine) =>
        ValueOperations.Run(engine, Residual, "residDelta", x => engine.Reconstituter.ResidDeltaMlp(x, LayerIndex, DetachLayerNormScale));
}

/// <summary>Logits <c>[tokens, n_vocab]</c> from the final layer's <c>resid.post_mlp</c> (TDB's <c>make_apply_logits</c>). Output <c>logits</c>.</summary>
public sealed record LogitsOperation(ITensorInput Residual, bool DetachLayerNormScale = true) : IEngineOperation<TensorResult>
{
    /// <inheritdoc />
    public EnginePlan<TensorResult> Plan(ReconstitutionEngine engine) =>
        ValueOperations.Plan(this, engine, Residual, null, "logits", [engine.Config.NVocab], (c, t) => WorkingMemory.Unembed(c, t, logprobs: false));

    /// <inheritdoc />
    public TensorResult Run(ReconstitutionEngine engine) =>
        ValueOperations.Run(engine, Residual, "logits", x => engine.Reconstituter.Logits(x, DetachLayerNormScale));
}

/// <summary>Log-softmax of the logits over the vocabulary, <c>[tokens, n_vocab]</c> (TDB's <c>make_apply_logprobs</c>). Output <c>logprobs</c>.</summary>
public sealed record LogprobsOperation(ITensorInput Residual, bool DetachLayerNormScale = true) : IEngineOperation<TensorResult>
{
    /// <inheritdoc />
    public EnginePlan<TensorResult> Plan(ReconstitutionEngine engine) =>
        ValueOperations.Plan(this, engine, Residual, null, "logprobs", [engine.Config.NVocab], (c, t) => WorkingMemory.Unembed(c, t, logprobs: true));

    /// <inheritdoc />
    public TensorResult Run(ReconstitutionEngine engine) =>
        ValueOperations.Run(engine, Residual, "logprobs", x => engine.Reconstituter.Logprobs(x, DetachLayerNormScale));
}

/// <summary>Attention probabilities and values of a layer.</summary>
/// <param name="Attention">Probabilities <c>[q, k, heads]</c>.</param>
/// <param name="Values">V <c>[tokens, heads, d_head]</c>.</param>
public sealed record AttentionValuesResult(NamedTensor Attention, NamedTensor Values) : IEngineResult
{
    /// <inheritdoc />
    public IReadOnlyList<NamedTensor> Tensors => [Attention, Values];
}

/// <summary>
/// Attention probabilities <c>[q, k, heads]</c> and values V <c>[tokens, heads, d_head]</c> from the residual before
/// layer <paramref name="LayerIndex"/> (TDB's <c>make_apply_attn_V_act</c>). Outputs <c>attention</c>, <c>values</c>.
/// </summary>
public sealed record AttentionValuesOperation(ITensorInput Residual, int LayerIndex, bool DetachLayerNormScale = true,
    AttentionTraceType? AttentionTraceType = null) : IEngineOperation<AttentionValuesResult>
{
    /// <inheritdoc />
    public EnginePlan<AttentionValuesResult> Plan(ReconstitutionEngine engine)
    {
        var c = engine.Config;
        var tokens = engine.Validator.Residual(Residual);
        engine.Validator.Layer(LayerIndex);
        TensorPlan[] outputs =
        [
            new("attention", WorkingMemory.LikeInput(Residual, tokens, tokens, c.NHeads)),
            new("values", WorkingMemory.LikeInput(Residual, tokens, c.NHeads, c.DHead)),
        ];
        return new(this, [Residual], outputs,
            WorkingMemory.Estimate([Residual], outputs, WorkingMemory.Batch(Residual), WorkingMemory.Attention(c, tokens)));
    }

    /// <inheritdoc />
    public AttentionValuesResult Run(ReconstitutionEngine engine)
    {
        var residual = ReconstitutionEngine.Read(Residual);
        var results = ReconstitutionEngine.ComputeMany(residual.dim() == 3, () =>
        {
            using var _ = no_grad();
            var (probs, values) = engine.Reconstituter.AttentionValues(engine.Batch(residual), LayerIndex, DetachLayerNormScale, AttentionTraceType);
            return [probs.Value, values.Value];
        });
        return new(new("attention", results[0]), new("values", results[1]));
    }
}

/// <summary>Planning and running of the value-only operations that read one residual and return one tensor.</summary>
internal static class ValueOperations
{
    /// <summary>Checks the residual (and layer), plans one output <c>[..., perSequence]</c> with the path's memory.</summary>
    public static EnginePlan<TensorResult> Plan(IEngineOperation<TensorResult> operation, ReconstitutionEngine engine, ITensorInput residual,
        int? layerIndex, string output, long[] perSequence, Func<GptConfig, long, long> path)
    {
        var tokens = engine.Validator.Residual(residual);
        if (layerIndex is int layer) engine.Validator.Layer(layer);
        TensorPlan[] outputs = [new(output, WorkingMemory.LikeInput(residual, [tokens, .. perSequence]))];
        return new(operation, [residual], outputs,
            WorkingMemory.Estimate([residual], outputs, WorkingMemory.Batch(residual), path(engine.Config, tokens)));
    }

    /// <summary>Reads the residual and computes <paramref name="compute"/> without gradients.</summary>
    public static TensorResult Run(ReconstitutionEngine engine, ITensorInput residual, string output, Func<Dual, Dual> compute)
    {
        var x = ReconstitutionEngine.Read(residual);
        var result = ReconstitutionEngine.Compute(x.dim() == 3, () =>
        {
            using var _ = no_grad();
            return compute(engine.Batch(x)).Value;
        });
        return new(new(output, result));
    }
}
