using ReconService.Engine.Loading;

namespace ReconService.Engine.Tests.Golden;

/// <summary>Which on-disk layouts an engine under test was loaded from.</summary>
public enum GoldenLayout
{
    /// <summary>Hugging Face model (<c>model/</c>), OpenAI/TDB autoencoders (<c>sae/*/autoencoders</c>).</summary>
    HuggingFaceWithOpenAiAutoencoders,
    /// <summary>TDB checkpoint (<c>model_tdb/</c>), SAELens autoencoders (<c>sae/*/saelens</c>).</summary>
    TdbWithSaeLensAutoencoders,
}

/// <summary>The golden model loaded in both layout pairs, shared by all golden tests.</summary>
public sealed class GoldenEngines : IDisposable
{
    private readonly Dictionary<GoldenLayout, ReconstitutionEngine> _engines = [];

    public GoldenEngines()
    {
        if (!GoldenSet.Available) return; // every golden test skips, naming the folder
        var golden = GoldenSet.Instance;
        foreach (var layout in System.Enum.GetValues<GoldenLayout>())
        {
            var tdb = layout == GoldenLayout.TdbWithSaeLensAutoencoders;
            var checkpoint = ModelLoader.Load(Path.Combine(golden.Dir, tdb ? "model_tdb" : "model"));
            // Each family is named after its folder, as the golden README asks; the input type comes from the layout or path.
            var autoencoders = golden.AutoencoderNames.Select(name =>
                AutoencoderLoader.Load(name, Path.Combine(golden.Dir, "sae", name, tdb ? "saelens" : "autoencoders")));
            _engines[layout] = new ReconstitutionEngine(checkpoint, autoencoders.ToList());
        }
    }

    public ReconstitutionEngine this[GoldenLayout layout] => _engines[layout];

    public void Dispose()
    {
        foreach (var engine in _engines.Values) engine.Dispose();
    }
}
