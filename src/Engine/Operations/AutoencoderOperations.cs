using static TorchSharp.torch;

namespace ReconService.Engine.Operations;

/// <summary>
/// Latents <c>[tokens, n_latents]</c> of autoencoder family <paramref name="Autoencoder"/> at a layer, from raw
/// activations of its input type <c>[tokens, n_inputs]</c> (TDB's <c>Autoencoder.encode</c>). Output <c>latents</c>.
/// </summary>
/// <param name="Autoencoder">Family name (the <c>{name}</c> of the route).</param>
/// <param name="Activations"><c>[tokens, n_inputs]</c> or batched.</param>
/// <param name="LayerIndex">Layer whose autoencoder to use.</param>
public sealed record EncodeOperation(string Autoencoder, ITensorInput Activations, int LayerIndex) : IEngineOperation<TensorResult>
{
    /// <inheritdoc />
    public EnginePlan<TensorResult> Plan(ReconstitutionEngine engine)
    {
        var ae = engine.Validator.Autoencoder(Autoencoder, LayerIndex);
        var tokens = engine.Validator.Rows(Activations, ae.NInputs, "n_inputs");
        TensorPlan[] outputs = [new("latents", WorkingMemory.LikeInput(Activations, tokens, ae.NLatents))];
        return new(this, [Activations], outputs,
            WorkingMemory.Estimate([Activations], outputs, WorkingMemory.Batch(Activations), 3 * tokens * ae.NLatents));
    }

    /// <inheritdoc />
    public TensorResult Run(ReconstitutionEngine engine)
    {
        var ae = engine.AutoencoderSets[Autoencoder].Layers[LayerIndex];
        var activations = ReconstitutionEngine.Read(Activations);
        var latents = ReconstitutionEngine.Compute(activations.dim() == 3, () =>
        {
            using var _ = no_grad();
            return ae.Encode(engine.Batch(activations)).Value;
        });
        return new(new("latents", latents));
    }
}

/// <summary>
/// d(sum over tokens of latent <paramref name="LatentIndex"/>) / d activations, shaped like the activations
/// (TDB's latent write gradient). Output <c>gradient</c>.
/// </summary>
/// <param name="Autoencoder">Family name (the <c>{name}</c> of the route).</param>
/// <param name="Activations"><c>[tokens, n_inputs]</c> or batched.</param>
/// <param name="LayerIndex">Layer whose autoencoder to use.</param>
/// <param name="LatentIndex"><c>0 &lt;= latentIndex &lt; n_latents</c>.</param>
public sealed record LatentGradientOperation(string Autoencoder, ITensorInput Activations, int LayerIndex, int LatentIndex) : IEngineOperation<TensorResult>
{
    /// <inheritdoc />
    public EnginePlan<TensorResult> Plan(ReconstitutionEngine engine)
    {
        var ae = engine.Validator.Autoencoder(Autoencoder, LayerIndex);
        var tokens = engine.Validator.Rows(Activations, ae.NInputs, "n_inputs");
        if (LatentIndex < 0 || LatentIndex >= ae.NLatents)
            throw new ReconstitutionException("latentIndex", $"expected 0 <= latentIndex < n_latents ({ae.NLatents}), got {LatentIndex}");
        TensorPlan[] outputs = [new("gradient", [.. Activations.Shape])];
        return new(this, [Activations], outputs, WorkingMemory.Estimate([Activations], outputs, WorkingMemory.Batch(Activations),
            3 * tokens * ae.NLatents, WorkingMemory.Derivative.Gradient));
    }

    /// <inheritdoc />
    public TensorResult Run(ReconstitutionEngine engine)
    {
        var ae = engine.AutoencoderSets[Autoencoder].Layers[LayerIndex];
        var activations = ReconstitutionEngine.Read(Activations);
        var gradient = ReconstitutionEngine.Compute(activations.dim() == 3, () =>
            ReconstitutionEngine.GradientOf(engine.Batch(activations), null, x => ae.Encode(x).Value[TensorIndex.Ellipsis, LatentIndex].sum()));
        return new(new("gradient", gradient));
    }
}
