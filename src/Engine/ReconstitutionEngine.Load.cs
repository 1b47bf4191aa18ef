using ReconService.Engine.Autoencoders;
using ReconService.Engine.Loading;

namespace ReconService.Engine;

public sealed partial class ReconstitutionEngine
{
    /// <summary>Loads the model and autoencoders named by <paramref name="options"/> (layouts detected) onto its device.</summary>
    /// <exception cref="WeightLoadException">A file is missing, truncated or inconsistent; the message names the file and tensor.</exception>
    /// <exception cref="ArgumentException">An autoencoder does not fit the model, a name is used twice, or the device is unknown.</exception>
    public static ReconstitutionEngine Load(EngineOptions options)
    {
        var checkpoint = ModelLoader.Load(options.ModelPath, options.Log);
        var autoencoders = new List<AutoencoderSet>();
        try
        {
            foreach (var source in options.Autoencoders)
                autoencoders.Add(AutoencoderLoader.Load(source.Name, source.Path, source.InputType, source.CenterWritingWeights, options.Log));
            return new ReconstitutionEngine(checkpoint, autoencoders, options.Device);
        }
        catch
        {
            checkpoint.Dispose();
            foreach (var set in autoencoders) set.Dispose();
            throw;
        }
    }
}
