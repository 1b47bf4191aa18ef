using ReconService.Engine.Operations;
using ReconService.Engine.Reduction;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;

namespace ReconService.Api.Pipeline;

/// <summary>
/// The reduce step: a request's <c>output</c> block (positions, indices, top-k, dtype) applied to each output tensor,
/// planned first (so that limits see the reduced answer), then applied in the run's dispose scope.
/// </summary>
public interface IOutputReduction
{
    /// <summary>
    /// The plan with its outputs as the request's reduction leaves them: reduced shapes and dtypes, an int32
    /// <c>&lt;name&gt;Indices</c> output after each output with <c>topK</c>, and the reduction's own working memory added.
    /// </summary>
    /// <exception cref="Engine.ReconstitutionException">An <c>output</c> field the outputs cannot serve (422 naming it).</exception>
    EnginePlan<TResult> Plan<TResult>(EnginePlan<TResult> plan, TensorRequest request) where TResult : IEngineResult;

    /// <summary>One output tensor as the request asks for it (new tensors in the run's dispose scope).</summary>
    /// <param name="output">The computed output.</param>
    /// <param name="request">The request, for its <c>output</c> block.</param>
    /// <param name="inputs">The plan's inputs, which say whether outputs carry a leading batch axis.</param>
    ReducedTensor Reduce(NamedTensor output, TensorRequest request, IReadOnlyList<ITensorInput> inputs);
}

/// <summary>
/// <see cref="IOutputReduction"/> by <see cref="OutputReduction"/> (<c>../shared/docs/api.md</c>, "Output selection and
/// reduction"). The position axis of every output is its first axis, or its second when the request's first tensor input
/// is batched (<c>[batch, tokens, width]</c>): the tokens axis, and for attention <c>[q, k, heads]</c> the query axis.
/// </summary>
public sealed class OutputSelection : IOutputReduction
{
    /// <summary>The position axis of outputs of a plan with these inputs: 1 after a batch axis, else 0.</summary>
    public static int PositionAxis(IReadOnlyList<ITensorInput> inputs) => inputs.Count > 0 && inputs[0].Shape.Count == 3 ? 1 : 0;

    /// <inheritdoc />
    public EnginePlan<TResult> Plan<TResult>(EnginePlan<TResult> plan, TensorRequest request) where TResult : IEngineResult
    {
        var reduction = OutputReduction.From(request.Output);
        if (reduction.IsIdentity) return plan;
        var axis = PositionAxis(plan.Inputs);
        var outputs = new List<TensorPlan>(plan.Outputs.Count * 2);
        long working = 0;
        foreach (var output in plan.Outputs)
        {
            var reduced = reduction.Plan(output.Name, output.Shape, axis);
            outputs.Add(new TensorPlan(output.Name, reduced.Shape, reduced.Dtype.WireName()));
            if (reduced.IndicesShape is { } indices) outputs.Add(new TensorPlan(reduced.IndicesField, indices, TensorDtype.Int32.WireName()));
            working += reduced.WorkingBytes;
        }
        return plan with { Outputs = outputs, WorkingMemoryBytes = plan.WorkingMemoryBytes + working };
    }

    /// <inheritdoc />
    public ReducedTensor Reduce(NamedTensor output, TensorRequest request, IReadOnlyList<ITensorInput> inputs) =>
        OutputReduction.From(request.Output).Apply(output.Name, output.Tensor, PositionAxis(inputs));
}
