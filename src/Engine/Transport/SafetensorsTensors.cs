using ReconService.Engine.Reduction;
using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;
using TorchSharp;

namespace ReconService.Engine.Transport;

/// <summary>
/// The TorchSharp side of the safetensors codec (<see cref="SafetensorsAnswer"/>, <see cref="SafetensorsRequestReader"/>,
/// which know no tensors): an answer tensor's storage as <see cref="TensorBytes"/>, and request tensors allocated for
/// the reader to fill (<see cref="SafetensorsInputs"/>).
/// </summary>
public static class SafetensorsTensors
{
    /// <summary>
    /// The bytes of an answer tensor (float32, float16, bfloat16 or int32), read from its own storage: a contiguous CPU
    /// tensor is not copied; another is made contiguous on the CPU once. The storage stays alive until the
    /// <see cref="TensorByteMemory"/> added to <paramref name="owners"/> is disposed, after the answer is written.
    /// </summary>
    /// <exception cref="ArgumentException">Another dtype.</exception>
    public static TensorBytes ToBytes(torch.Tensor tensor, ICollection<IDisposable> owners)
    {
        var dtype = DtypeOf(tensor.dtype) ?? throw new ArgumentException($"answers hold float32, float16, bfloat16 or int32, got {tensor.dtype}", nameof(tensor));
        using var scope = torch.NewDisposeScope();
        var memory = new TensorByteMemory(tensor.detach().cpu().contiguous());
        owners.Add(memory);
        return new TensorBytes(dtype, tensor.shape, memory.Memory);
    }

    /// <summary>The wire dtype of a TorchSharp element type, or null for one that does not travel.</summary>
    public static TensorDtype? DtypeOf(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Float32 => TensorDtype.Float32,
        torch.ScalarType.Float16 => TensorDtype.Float16,
        torch.ScalarType.BFloat16 => TensorDtype.BFloat16,
        torch.ScalarType.Int32 => TensorDtype.Int32,
        _ => null,
    };
}

/// <summary>
/// The tensors of one safetensors request: <see cref="Allocate"/> is the reader's <c>destination</c> (a new CPU
/// tensor per entry, outside any dispose scope, whose storage the body is read into); <see cref="Take"/> hands one to
/// the engine once the request holds a slot. Dispose when the request ends (what was taken lives on in the taker's
/// scope).
/// </summary>
public sealed class SafetensorsInputs : IDisposable
{
    private readonly Dictionary<string, TensorByteMemory> _tensors = new(StringComparer.Ordinal);

    /// <summary>Names of the tensors allocated so far.</summary>
    public IReadOnlyCollection<string> Names => _tensors.Keys;

    /// <summary>A new tensor of the entry's shape and dtype; returns its storage for the reader to fill.</summary>
    /// <exception cref="ArgumentException">A dtype that does not travel, or a name allocated twice.</exception>
    public Memory<byte> Allocate(SafetensorsEntry entry)
    {
        var dtype = entry.Dtype ?? throw new ArgumentException($"{entry.Name}: dtype {entry.DtypeName} does not travel", nameof(entry));
        using var scope = torch.NewDisposeScope();
        var memory = new TensorByteMemory(torch.empty(entry.Shape, OutputReduction.ScalarTypeOf(dtype), torch.CPU));
        if (!_tensors.TryAdd(entry.Name, memory))
        {
            ((IDisposable)memory).Dispose();
            throw new ArgumentException($"{entry.Name} is allocated already", nameof(entry));
        }
        return memory.Memory;
    }

    /// <summary>
    /// Request tensor <paramref name="name"/> as float32 on <paramref name="device"/> (CPU by default), a new handle in the
    /// caller's dispose scope: float32 on the CPU is not copied; float16 and bfloat16 are widened.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No tensor of that name was read.</exception>
    public torch.Tensor Take(string name, torch.Device? device = null)
    {
        if (!_tensors.TryGetValue(name, out var memory)) throw new KeyNotFoundException($"the request holds no tensor named {name}");
        var stored = memory.Tensor;
        return stored.alias().to(torch.ScalarType.Float32, device ?? torch.CPU);
    }

    /// <summary>Frees every tensor (their storage lives on while a taken handle does).</summary>
    public void Dispose()
    {
        foreach (var memory in _tensors.Values) ((IDisposable)memory).Dispose();
        _tensors.Clear();
    }
}
