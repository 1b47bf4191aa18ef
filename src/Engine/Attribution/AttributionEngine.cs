using ReconService.Engine.Autoencoders;
using ReconService.Engine.Model;
using ReconService.Engine.Reconstitution;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Attribution;

/// <summary>
/// TDB's node table, ablations and upstream traces (its activation server's <c>multiple_top_k_derived_scalars</c>),
/// over a loaded transformer and its autoencoders, plus batches, any number of spliced autoencoders with error nodes for
/// every family, and verification of first-order estimates. Semantics: <c>../shared/golden/attribution/README.md</c>.
/// </summary>
/// <remarks>
/// Shaped as an engine operation: <see cref="Plan"/> validates (throwing <see cref="ReconstitutionException"/> with the
/// request's field path), lists the answer's tensors and estimates working memory before any tensor work;
/// <see cref="Run"/> does the tensor work synchronously inside its own dispose scope: per group of equal-length
/// sequences one hooked forward pass and one backward pass (plus one forward per verified node, and one without
/// ablations for the unablated loss). Thread-safe: each call builds its own hooks. The model and autoencoders are
/// borrowed (never changed, not disposed); per-unit write norms are computed once and kept.
/// </remarks>
public sealed class AttributionEngine : IDisposable
{
    private readonly AttributionPlanner _planner;

    /// <summary>Creates the engine over a loaded model (already on its device) and autoencoder families (on the same device).</summary>
    /// <param name="model">The transformer.</param>
    /// <param name="autoencoders">Autoencoder families by name.</param>
    public AttributionEngine(Transformer model, IReadOnlyDictionary<string, AutoencoderSet> autoencoders)
    {
        Model = model;
        Config = model.Config;
        Device = model.parameters().First().device;
        Reconstituter = new Reconstituter(model, autoencoders);
        Weights = new AttributionWeights(model);
        _planner = new AttributionPlanner(Config, autoencoders);
    }

    /// <summary>Model sizes.</summary>
    public GptConfig Config { get; }

    internal Transformer Model { get; }
    internal Device Device { get; }
    internal Reconstituter Reconstituter { get; }
    internal AttributionWeights Weights { get; }

    /// <summary>Validates <paramref name="spec"/> and plans it: the answer's tensors and the working memory, before any tensor work.</summary>
    /// <exception cref="ReconstitutionException">The request cannot be served; <c>Field</c> names the field (e.g. <c>ablations[1].tensorIndices[0]</c>).</exception>
    public AttributionPlan Plan(AttributionSpec spec) => _planner.Plan(spec);

    /// <summary>
    /// Runs a plan made by this engine's <see cref="Plan"/>. Result tensors are float32 on the CPU, moved to the caller's
    /// dispose scope; everything else is disposed before returning.
    /// </summary>
    public AttributionResult Run(AttributionPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var results = new AttributionSequenceResult?[plan.Spec.Sequences.Count];
        foreach (var sameLength in Enumerable.Range(0, results.Length).GroupBy(i => plan.Spec.Sequences[i].Count))
        {
            using var scope = NewDisposeScope();
            new AttributionRun(this, plan, [.. sameLength]).Execute(results);
        }
        return new AttributionResult(plan.Spec.Batched, [.. results.Select(r => r!)]);
    }

    /// <summary><see cref="Plan"/> then <see cref="Run"/>.</summary>
    public AttributionResult Compute(AttributionSpec spec) => Run(Plan(spec));

    /// <summary>Releases the cached write norms.</summary>
    public void Dispose() => Weights.Dispose();
}
