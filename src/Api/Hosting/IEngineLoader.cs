using ReconService.Engine;

namespace ReconService.Api.Hosting;

/// <summary>Loads the engine; replaced in tests.</summary>
public interface IEngineLoader
{
    /// <summary>Loads weights and autoencoders (slow; called once, off the request path).</summary>
    IReconstitutionEngine Load(EngineOptions options);
}

/// <summary>Loads <see cref="ReconstitutionEngine"/> (model layout detected, each autoencoder family).</summary>
public sealed class ReconstitutionEngineLoader : IEngineLoader
{
    /// <inheritdoc />
    public IReconstitutionEngine Load(EngineOptions options) => ReconstitutionEngine.Load(options);
}
