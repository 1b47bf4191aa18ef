using ReconService.Engine.Operations;

namespace ReconService.Engine.Attribution;

/// <summary>
/// <c>POST /v1/attribution</c> as an engine operation: TDB's node table, ablations and traces over one or more token
/// sequences (<see cref="AttributionEngine"/>). Plan validates the spec (errors name the request field), lists every
/// answer tensor by its safetensors name (<see cref="AttributionWire.TensorName"/>) and estimates the working memory;
/// Run computes it inside the caller's dispose scope.
/// </summary>
/// <param name="Spec">What to compute; its sequences are already tokenized.</param>
public sealed record AttributionOperation(AttributionSpec Spec) : IEngineOperation<AttributionOutput>, ITokenOperation
{
    /// <summary>The engine's plan, set by <see cref="Plan"/> on the checked copy it returns.</summary>
    internal AttributionPlan? Planned { get; init; }

    /// <inheritdoc />
    public string TokensField => Spec.TokensField;

    /// <inheritdoc />
    public long TokenCount => Spec.Sequences.Sum(s => (long)s.Count);

    /// <inheritdoc />
    public EnginePlan<AttributionOutput> Plan(ReconstitutionEngine engine)
    {
        var plan = engine.Attribution.Plan(Spec);
        var outputs = plan.Tensors.Select(t => new TensorPlan(AttributionWire.TensorName(Spec.Batched, t.Sequence, t.Path), t.Shape)).ToArray();
        return new(this with { Planned = plan }, [], outputs, plan.WorkingMemoryBytes);
    }

    /// <inheritdoc />
    public AttributionOutput Run(ReconstitutionEngine engine)
    {
        var plan = Planned ?? throw new InvalidOperationException("run the operation the engine's Plan returned");
        var result = engine.Attribution.Run(plan);
        var byName = result.Results.SelectMany((r, i) => r.Tensors().Select(t => (Name: AttributionWire.TensorName(Spec.Batched, i, t.Path), t.Tensor)))
            .ToDictionary(t => t.Name, t => t.Tensor);
        var tensors = plan.Tensors.Select(t => AttributionWire.TensorName(Spec.Batched, t.Sequence, t.Path))
            .Select(name => new NamedTensor(name, byName[name])).ToArray();
        return new AttributionOutput(result, tensors);
    }
}

/// <summary>What <see cref="AttributionOperation"/> returns: the engine's result and its tensors by answer name, in plan order.</summary>
/// <param name="Result">Per sequence: losses, node table, sums, dense scalars, verification.</param>
/// <param name="Tensors">Every tensor of <paramref name="Result"/>, named as the answer places it.</param>
public sealed record AttributionOutput(AttributionResult Result, IReadOnlyList<NamedTensor> Tensors) : IEngineResult;
