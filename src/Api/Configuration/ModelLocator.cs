using Microsoft.Extensions.Options;
using ReconService.Engine;
using ReconService.Engine.Loading;
using ReconService.Models;

namespace ReconService.Api.Configuration;

/// <summary>Turns configuration into the engine's load options, falling back to the embedded default model.</summary>
public sealed class ModelLocator(IOptions<ModelOptions> model, IOptions<AutoencodersOptions> autoencoders,
    IOptions<EngineHostOptions> engine, IHostEnvironment environment)
{
    /// <summary>Folder of the embedded model, relative to the repository (or the published app's) root.</summary>
    public const string DefaultModelFolder = "models/kjv-gpt2-tiny";

    /// <summary>Name the default model's autoencoders are served under.</summary>
    public const string DefaultAutoencoderName = "mlp_post_act";

    /// <summary>The engine options configuration describes.</summary>
    /// <exception cref="InvalidOperationException">No <c>Model:Path</c> and the default model cannot be found; or a bad autoencoder entry.</exception>
    public EngineOptions Resolve()
    {
        var sources = new List<AutoencoderSource>();
        foreach (var (name, entry) in autoencoders.Value)
        {
            if (string.IsNullOrWhiteSpace(entry.Path))
                throw new InvalidOperationException($"Autoencoders:{name}:Path is required");
            sources.Add(new AutoencoderSource(name, Rooted(entry.Path), ParseInputType(name, entry.InputType), entry.CenterWritingWeights));
        }
        var modelPath = model.Value.Path;
        if (string.IsNullOrWhiteSpace(modelPath))
        {
            var root = FindDefaultModel() ?? throw new InvalidOperationException(
                $"Model:Path is not set and the embedded default model ({DefaultModelFolder}) was not found above {environment.ContentRootPath} or {AppContext.BaseDirectory}");
            modelPath = Path.Combine(root, "model");
            if (sources.Count == 0)
                sources.Add(new AutoencoderSource(DefaultAutoencoderName, Path.Combine(root, "sae", "mlp_post_act", "saelens")));
        }
        return new EngineOptions(Rooted(modelPath), sources, engine.Value.Device);
    }

    /// <summary>Parses an input type in any spelling <see cref="AutoencoderInputTypes.Parse"/> takes (<c>mlp.post_act</c> or <c>mlp_post_act</c>, ...).</summary>
    public static AutoencoderInputType? ParseInputType(string name, string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        try
        {
            return AutoencoderInputTypes.Parse(value.Trim());
        }
        catch (ArgumentException)
        {
            throw new InvalidOperationException($"Autoencoders:{name}:InputType must be one of {AutoencoderInputTypes.Accepted}");
        }
    }

    // Relative paths are taken from the working directory, as a shell user expects (`dotnet run` sets the content root to src/Api).
    private static string Rooted(string path) => Path.GetFullPath(path);

    private string? FindDefaultModel()
    {
        foreach (var start in new[] { environment.ContentRootPath, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, DefaultModelFolder);
                if (File.Exists(Path.Combine(candidate, "model", "config.json"))) return candidate;
            }
        }
        return null;
    }
}
