using System.Buffers;

namespace ReconService.Models.Tensors;

/// <summary>
/// A scope (one HTTP request) in which the base64 text of the <see cref="TensorPayload"/>s read on the current async flow
/// is held in arrays rented from <see cref="ArrayPool{T}.Shared"/> instead of new arrays, and given back when the scope
/// ends. A request's residual is megabytes of text; a new array for it each time touches fresh pages, which costs more
/// than decoding it on virtual machines where page faults are slow. Outside a scope, payloads get arrays of their own.
/// </summary>
/// <remarks>
/// When the scope ends, every payload it lent text to is emptied: reading its text afterwards throws
/// <see cref="InvalidOperationException"/> rather than seeing an array that now belongs to someone else.
/// </remarks>
public sealed class TensorTextPool : IDisposable
{
    private static readonly AsyncLocal<TensorTextPool?> Current = new();
    private readonly TensorTextPool? _outer;
    private readonly List<TensorPayload> _lent = [];
    private bool _ended;

    private TensorTextPool(TensorTextPool? outer) => _outer = outer;

    /// <summary>Starts a scope on the current async flow; dispose it when the request that reads payloads has ended.</summary>
    public static TensorTextPool Begin() => Current.Value = new TensorTextPool(Current.Value);

    /// <summary>A buffer of at least <paramref name="length"/> bytes: rented when a scope is active, else a new array.</summary>
    internal static (byte[] Buffer, TensorTextPool? Lender) Rent(int length)
    {
        var scope = Current.Value;
        return scope is null || scope._ended ? (new byte[length], null) : (ArrayPool<byte>.Shared.Rent(length), scope);
    }

    /// <summary>Records that <paramref name="payload"/> holds text rented from this scope.</summary>
    internal void Lend(TensorPayload payload)
    {
        lock (_lent) _lent.Add(payload);
    }

    /// <summary>Gives the rented text back to the pool and empties the payloads that held it.</summary>
    public void Dispose()
    {
        TensorPayload[] lent;
        lock (_lent)
        {
            if (_ended) return;
            _ended = true;
            lent = [.. _lent];
            _lent.Clear();
        }
        foreach (var payload in lent) payload.ReturnText();
        if (Current.Value == this) Current.Value = _outer;
    }
}
