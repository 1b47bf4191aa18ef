using TorchSharp;

namespace ReconService.Engine.Operations;

/// <summary>
/// A request tensor known by its field, shape and dtype before its data is read, so that an operation can be
/// planned (validated, sized) without decoding anything.
/// </summary>
public interface ITensorInput
{
    /// <summary>Request field it came from (<c>residual</c>, <c>writeVector</c>, <c>activations</c>).</summary>
    string Field { get; }

    /// <summary>Size of every axis, outermost first.</summary>
    IReadOnlyList<long> Shape { get; }

    /// <summary>Element type as sent: <c>float32</c>, <c>float16</c> or <c>bfloat16</c>.</summary>
    string Dtype { get; }

    /// <summary>
    /// The values as a float32 CPU tensor, created in the caller's dispose scope. Called only by
    /// <see cref="IEngineOperation{TResult}.Run"/>, once the request holds an engine slot.
    /// </summary>
    torch.Tensor Read();
}

/// <summary>
/// One computation the service offers, as a record of its arguments: planned first (validated, its outputs and
/// working memory known, nothing computed), then run. Adding an endpoint means adding one of these.
/// </summary>
/// <typeparam name="TResult">What <see cref="Run"/> returns: named output tensors and any other fields.</typeparam>
public interface IEngineOperation<TResult> where TResult : IEngineResult
{
    /// <summary>
    /// Validates every argument against the loaded model and returns the plan: the checked operation (with defaults
    /// resolved), its output tensors' names, shapes and dtypes, and an estimate of the working memory it needs.
    /// Reads no tensor data.
    /// </summary>
    /// <exception cref="ReconstitutionException">An argument the model cannot serve; names the request field.</exception>
    EnginePlan<TResult> Plan(ReconstitutionEngine engine);

    /// <summary>
    /// Runs the checked operation synchronously on the calling thread. Every tensor it makes, results included,
    /// belongs to the caller's dispose scope.
    /// </summary>
    /// <exception cref="ReconstitutionException">Non-finite input values (found when the data is read).</exception>
    TResult Run(ReconstitutionEngine engine);
}

/// <summary>What an operation returns: its output tensors by name (the response field or safetensors name).</summary>
public interface IEngineResult
{
    /// <summary>The output tensors, in the order of the plan's <see cref="EnginePlan{TResult}.Outputs"/>.</summary>
    IReadOnlyList<NamedTensor> Tensors { get; }
}

/// <summary>One output tensor.</summary>
/// <param name="Name">Its name: the response field (<c>activations</c>, <c>gradient</c>) or path (<c>captured/mlp.post_act/1</c>).</param>
/// <param name="Tensor">Float32 CPU tensor in the caller's dispose scope.</param>
/// <param name="CausalMask">Whether entries with key &gt; query (axes -3 and -2 of <c>[..., q, k, heads]</c>) are -inf by design.</param>
public sealed record NamedTensor(string Name, torch.Tensor Tensor, bool CausalMask = false);

/// <summary>A result that is one tensor.</summary>
/// <param name="Output">The tensor.</param>
public sealed record TensorResult(NamedTensor Output) : IEngineResult
{
    /// <summary>The tensor itself.</summary>
    public torch.Tensor Tensor => Output.Tensor;

    /// <inheritdoc />
    public IReadOnlyList<NamedTensor> Tensors => [Output];
}

/// <summary>An output tensor as planned: name, shape (batch axis included when the input has one) and dtype.</summary>
/// <param name="Name">Response field or path, as in <see cref="NamedTensor.Name"/>.</param>
/// <param name="Shape">Size of every axis.</param>
/// <param name="Dtype">Element type of the computed tensor (<c>float32</c>).</param>
public sealed record TensorPlan(string Name, long[] Shape, string Dtype = "float32")
{
    /// <summary>Number of values.</summary>
    public long Elements => Shape.Aggregate(1L, (n, d) => checked(n * d));
}

/// <summary>
/// A validated operation ready to run: the checked operation, the tensor inputs it will read, the outputs it
/// will produce, and the working memory it is expected to need (see <see cref="WorkingMemory"/>).
/// </summary>
/// <param name="Operation">The checked operation (defaults resolved), which <c>Run</c> executes.</param>
/// <param name="Inputs">Its tensor inputs.</param>
/// <param name="Outputs">Its output tensors, before any output reduction.</param>
/// <param name="WorkingMemoryBytes">Estimated peak bytes of tensors the run holds at once, inputs and outputs included.</param>
public sealed record EnginePlan<TResult>(IEngineOperation<TResult> Operation, IReadOnlyList<ITensorInput> Inputs,
    IReadOnlyList<TensorPlan> Outputs, long WorkingMemoryBytes) where TResult : IEngineResult
{
    /// <summary>Values in all outputs together.</summary>
    public long OutputElements => Outputs.Aggregate(0L, (n, o) => checked(n + o.Elements));
}

/// <summary>A tensor already in memory as an input (engine callers, tests).</summary>
/// <param name="Field">Request field it stands for.</param>
/// <param name="Tensor">The tensor; <see cref="Read"/> returns it as float32 on the CPU.</param>
public sealed record TensorInput(string Field, torch.Tensor Tensor) : ITensorInput
{
    /// <inheritdoc />
    public IReadOnlyList<long> Shape => Tensor.shape;

    /// <inheritdoc />
    public string Dtype => Tensor.dtype switch
    {
        torch.ScalarType.Float32 => "float32",
        torch.ScalarType.Float16 => "float16",
        torch.ScalarType.BFloat16 => "bfloat16",
        var other => other.ToString().ToLowerInvariant(),
    };

    /// <inheritdoc />
    public torch.Tensor Read() => Tensor.dtype == torch.ScalarType.Float32 ? Tensor : Tensor.to(torch.ScalarType.Float32);
}
