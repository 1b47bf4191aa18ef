using ReconService.Engine.Attribution;

namespace ReconService.Engine;

public sealed partial class ReconstitutionEngine
{
    private readonly Lock _attributionLock = new();
    private AttributionEngine? _attribution;

    /// <summary>
    /// The attribution engine over this engine's model and autoencoders (<see cref="AttributionOperation"/>), made on
    /// first use; it keeps per-unit write norms for the engine's life and is disposed with it.
    /// </summary>
    internal AttributionEngine Attribution
    {
        get
        {
            if (Volatile.Read(ref _attribution) is { } made) return made;
            lock (_attributionLock) return _attribution ??= new AttributionEngine(_model, _autoencoders);
        }
    }
}
