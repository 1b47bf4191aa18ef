using ReconService.Engine;

namespace ReconService.Api.Hosting;

/// <summary>The process's one engine, once loaded. Requests reach the engine only through <see cref="Engine"/>.</summary>
public sealed class EngineHost : IDisposable
{
    private volatile IReconstitutionEngine? _engine;

    /// <summary>Whether the weights are loaded and requests can be served.</summary>
    public bool IsReady => _engine is not null;

    /// <summary>Why loading failed, if it did.</summary>
    public Exception? LoadError { get; private set; }

    /// <summary>The loaded engine.</summary>
    /// <exception cref="EngineNotReadyException">Still loading, or loading failed.</exception>
    public IReconstitutionEngine Engine => _engine ?? throw new EngineNotReadyException(LoadError is null
        ? "the model is still loading; retry shortly"
        : "the model failed to load; see the service log");

    internal void SetLoaded(IReconstitutionEngine engine) => _engine = engine;

    internal void SetFailed(Exception error) => LoadError = error;

    /// <inheritdoc />
    public void Dispose() => (_engine as IDisposable)?.Dispose();
}

/// <summary>A request arrived before the engine was ready (503).</summary>
public sealed class EngineNotReadyException(string message) : Exception(message);
