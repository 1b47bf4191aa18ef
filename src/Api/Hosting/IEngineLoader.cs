using ReconService.Engine;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Loading;

namespace ReconService.Api.Hosting;

/// <summary>Loads the engine; replaced in tests.</summary>
public interface IEngineLoader
{
    /// <summary>Loads weights and autoencoders (slow; called once, off the request path).</summary>
    IReconstitutionEngine Load(EngineOptions options);
}

/// <summary>Loads the model (layout detected) and each autoencoder family, and builds a <see cref="ReconstitutionEngine"/> over them.</summary>
public sealed class ReconstitutionEngineLoader : IEngineLoader
{
    /// <inheritdoc />
    public IReconstitutionEngine Load(EngineOptions options)
    {
        var checkpoint = ModelLoader.Load(options.ModelPath);
        var sets = new List<AutoencoderSet>();
        try
        {
            foreach (var source in options.Autoencoders)
                sets.Add(AutoencoderLoader.Load(source.Name, source.Path, source.InputType));
            return new ReconstitutionEngine(checkpoint, sets, options.Device);
        }
        catch
        {
            foreach (var set in sets) set.Dispose();
            checkpoint.Dispose();
            throw;
        }
    }
}
