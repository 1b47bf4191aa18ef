using System.Text.Json.Nodes;

namespace ReconService.Tests.Shared;

/// <summary>
/// Makes new autoencoder families for tests from an existing SAELens folder (one sub-folder per layer holding
/// <c>cfg.json</c> and <c>sae_weights.safetensors</c>): the weights copied, each layer's configuration rewritten.
/// Linked into both test projects.
/// </summary>
internal static class SaeLensFamilyCopy
{
    /// <summary>Copies <paramref name="source"/> into <c>target/layer{L}</c> folders, each <c>cfg.json</c> passed through <paramref name="edit"/> with its <c>hook_layer</c>.</summary>
    /// <returns><paramref name="target"/>.</returns>
    public static string Copy(string source, string target, Action<JsonObject, int> edit)
    {
        foreach (var dir in Directory.GetDirectories(source))
        {
            var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "cfg.json")))!.AsObject();
            var layer = cfg["hook_layer"]!.GetValue<int>();
            edit(cfg, layer);
            var folder = Path.Combine(target, $"layer{layer}");
            Directory.CreateDirectory(folder);
            File.Copy(Path.Combine(dir, "sae_weights.safetensors"), Path.Combine(folder, "sae_weights.safetensors"));
            File.WriteAllText(Path.Combine(folder, "cfg.json"), cfg.ToJsonString());
        }
        return target;
    }
}
