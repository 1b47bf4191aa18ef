using ReconService.Api.Logging;
using ReconService.Engine;

namespace ReconService.Api.Hosting;

/// <summary>Loads the engine; replaced in tests.</summary>
public interface IEngineLoader
{
    /// <summary>Loads weights and autoencoders (slow; called once, off the request path).</summary>
    IReconstitutionEngine Load(EngineOptions options);
}

/// <summary>Loads <see cref="ReconstitutionEngine"/> (model layout detected, each autoencoder family), logging what the loaders tolerated.</summary>
public sealed class ReconstitutionEngineLoader(ILogger<ReconstitutionEngineLoader> logger) : IEngineLoader
{
    /// <inheritdoc />
    public IReconstitutionEngine Load(EngineOptions options) =>
        ReconstitutionEngine.Load(options with { Log = options.Log ?? (notice => logger.LoadNotice(notice)) });
}
