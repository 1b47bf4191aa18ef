namespace ReconService.Models.Tensors;

/// <summary>
/// The tensors of a safetensors request while its other fields are read as JSON: within <see cref="Begin"/>'s scope (on
/// this thread), a tensor field written as <c>{"tensor": "&lt;name&gt;"}</c> reads as the tensor of that name, each
/// tensor once. Outside a scope <c>tensor</c> is an unknown member of a tensor object, as in any JSON request.
/// </summary>
public sealed class TensorPlaceholders : IDisposable
{
    [ThreadStatic] private static TensorPlaceholders? _current;
    private readonly TensorPlaceholders? _outer;
    private readonly Dictionary<string, TensorPayload> _tensors;
    private readonly HashSet<string> _taken = new(StringComparer.Ordinal);

    private TensorPlaceholders(IReadOnlyDictionary<string, TensorPayload> tensors, TensorPlaceholders? outer)
    {
        _tensors = new Dictionary<string, TensorPayload>(tensors, StringComparer.Ordinal);
        _outer = outer;
    }

    /// <summary>Starts a scope on this thread in which placeholders read as <paramref name="tensors"/>; deserialize synchronously inside it.</summary>
    public static TensorPlaceholders Begin(IReadOnlyDictionary<string, TensorPayload> tensors) => _current = new TensorPlaceholders(tensors, _current);

    /// <summary>The scope active on this thread, if any.</summary>
    internal static TensorPlaceholders? Current => _current;

    /// <summary>Names of the tensors no placeholder has taken.</summary>
    public IReadOnlyList<string> Unused => _tensors.Keys.Where(k => !_taken.Contains(k)).Order(StringComparer.Ordinal).ToList();

    /// <summary>The tensor <paramref name="name"/>, once.</summary>
    /// <exception cref="TensorPayloadException">No such tensor, or it was taken already.</exception>
    internal TensorPayload Take(string name)
    {
        if (!_tensors.TryGetValue(name, out var payload))
            throw new TensorPayloadException("tensor", $"the safetensors body holds no tensor named \"{(name.Length > 40 ? name[..40] + "…" : name)}\"");
        if (!_taken.Add(name))
            throw new TensorPayloadException("tensor", $"tensor \"{name}\" is used by another field already");
        return payload;
    }

    /// <summary>Ends the scope.</summary>
    public void Dispose()
    {
        if (_current == this) _current = _outer;
    }
}
