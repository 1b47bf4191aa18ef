using ReconService.Engine.Hooks;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Operations;

/// <summary>
/// The activation of a node type recomputed from the residual stream preceding it (TDB's
/// <c>make_reconstituted_activation_fn</c>): qk logits or probs <c>[q, k, heads]</c> (masked logits are -inf), MLP
/// activations <c>[tokens, d_ff]</c>, latents <c>[tokens, n_latents]</c> (or the slice's width). Output <c>activations</c>.
/// </summary>
/// <param name="Residual"><c>[tokens, d_model]</c> or <c>[batch, tokens, d_model]</c>.</param>
/// <param name="Spec">Which activation.</param>
public sealed record ActivationsOperation(ITensorInput Residual, ActivationSpec Spec) : IEngineOperation<TensorResult>
{
    /// <inheritdoc />
    public EnginePlan<TensorResult> Plan(ReconstitutionEngine engine)
    {
        var tokens = engine.Validator.Residual(Residual);
        var spec = engine.Validator.Spec(Spec);
        TensorPlan[] outputs = [new("activations", WorkingMemory.LikeInput(Residual, engine.Validator.ActivationShape(spec, tokens)))];
        return new(this with { Spec = spec }, [Residual], outputs,
            WorkingMemory.Estimate([Residual], outputs, WorkingMemory.Batch(Residual), WorkingMemory.Activation(engine, spec, tokens)));
    }

    /// <inheritdoc />
    public TensorResult Run(ReconstitutionEngine engine)
    {
        var residual = ReconstitutionEngine.Read(Residual);
        var activations = ReconstitutionEngine.Compute(residual.dim() == 3, () =>
        {
            using var _ = no_grad();
            return engine.Reconstituter.Activation(engine.Batch(residual), Spec).Value;
        });
        return new(new("activations", activations, CausalMask: Spec is { NodeType: NodeType.AttentionHead, PreOrPostAct: PreOrPostAct.Pre }));
    }
}

/// <summary>
/// d activation[<paramref name="TensorIndices"/>] / d residual, shaped like the residual. Indices address one
/// activation scalar per sequence (the batch axis excluded). Output <c>gradient</c>.
/// </summary>
/// <param name="Residual"><c>[tokens, d_model]</c> or <c>[batch, tokens, d_model]</c>.</param>
/// <param name="Spec">Which activation.</param>
/// <param name="TensorIndices">One index per activation axis.</param>
/// <param name="Hooks">Caller-supplied hooks added to the request's own (<c>bwd</c> hooks receive gradients); not on the wire.</param>
public sealed record GradientOperation(ITensorInput Residual, ActivationSpec Spec, IReadOnlyList<long> TensorIndices, HookTree? Hooks = null)
    : IEngineOperation<TensorResult>
{
    /// <inheritdoc />
    public EnginePlan<TensorResult> Plan(ReconstitutionEngine engine)
    {
        var tokens = engine.Validator.Residual(Residual);
        var spec = engine.Validator.Spec(Spec);
        engine.Validator.TensorIndices(TensorIndices, spec, engine.Validator.ActivationShape(spec, tokens));
        TensorPlan[] outputs = [new("gradient", [.. Residual.Shape])];
        return new(this with { Spec = spec }, [Residual], outputs, WorkingMemory.Estimate([Residual], outputs, WorkingMemory.Batch(Residual),
            WorkingMemory.Activation(engine, spec, tokens), WorkingMemory.Derivative.Gradient));
    }

    /// <inheritdoc />
    public TensorResult Run(ReconstitutionEngine engine)
    {
        var residual = ReconstitutionEngine.Read(Residual);
        var hooks = Hooks ?? new HookTree();
        var gradient = ReconstitutionEngine.Compute(residual.dim() == 3, () => ReconstitutionEngine.GradientOf(engine.Batch(residual), hooks, x =>
        {
            var activation = engine.Reconstituter.Activation(x, Spec, hooks).Value;
            return activation[[TensorIndex.Ellipsis, .. TensorIndices.Select(i => TensorIndex.Single(i))]].sum();
        }));
        return new(new("gradient", gradient));
    }
}

/// <summary>
/// Jacobian of the activation with respect to the residual times <paramref name="WriteVector"/>, by exact
/// forward-mode propagation (<see cref="Model.Dual"/>); shaped like the activation, 0 where the activation is -inf.
/// Output <c>jvp</c>.
/// </summary>
/// <param name="Residual"><c>[tokens, d_model]</c> or <c>[batch, tokens, d_model]</c>.</param>
/// <param name="Spec">Which activation.</param>
/// <param name="WriteVector">Shaped like the residual.</param>
public sealed record JvpOperation(ITensorInput Residual, ActivationSpec Spec, ITensorInput WriteVector) : IEngineOperation<TensorResult>
{
    /// <inheritdoc />
    public EnginePlan<TensorResult> Plan(ReconstitutionEngine engine)
    {
        var tokens = engine.Validator.Residual(Residual);
        var spec = engine.Validator.Spec(Spec);
        if (!WriteVector.Shape.SequenceEqual(Residual.Shape))
            throw new ReconstitutionException(WriteVector.Field + ".shape",
                $"expected the residual's shape {Loading.TensorChecks.Format(Residual.Shape)}, got {Loading.TensorChecks.Format(WriteVector.Shape)}");
        engine.Validator.Residual(WriteVector);
        TensorPlan[] outputs = [new("jvp", WorkingMemory.LikeInput(Residual, engine.Validator.ActivationShape(spec, tokens)))];
        return new(this with { Spec = spec }, [Residual, WriteVector], outputs, WorkingMemory.Estimate([Residual, WriteVector], outputs,
            WorkingMemory.Batch(Residual), WorkingMemory.Activation(engine, spec, tokens), WorkingMemory.Derivative.Jvp));
    }

    /// <inheritdoc />
    public TensorResult Run(ReconstitutionEngine engine)
    {
        var residual = ReconstitutionEngine.Read(Residual);
        var write = ReconstitutionEngine.Read(WriteVector);
        var jvp = ReconstitutionEngine.Compute(residual.dim() == 3, () =>
        {
            using var _ = no_grad();
            var activation = engine.Reconstituter.Activation(new Model.Dual(engine.Batch(residual), engine.Batch(write)), Spec);
            return activation.Tangent ?? zeros_like(activation.Value);
        });
        return new(new("jvp", jvp));
    }
}
