using ReconService.Engine.Model;
using TorchSharp;

namespace ReconService.Engine.Loading;

/// <summary>
/// Loads a TDB checkpoint: <c>config.json</c> (<c>d_model</c>, <c>n_layers</c>, <c>n_heads</c>, <c>ctx_window</c>) and
/// <c>model_pieces/&lt;parameter&gt;.pt</c>, one <c>torch.save</c>d tensor per parameter, as TDB's
/// <c>Transformer.load</c> reads them. <c>n_vocab</c> comes from <c>tok_embed.weight</c>'s shape.
/// </summary>
internal static class TdbCheckpointLoader
{
    public static GptCheckpoint Load(string folder)
    {
        var configPath = Path.Combine(folder, "config.json");
        var json = JsonConfig.Read(configPath);
        var pieces = Path.Combine(folder, "model_pieces");

        using var scope = torch.NewDisposeScope();
        var tokEmbedPath = Path.Combine(pieces, "tok_embed.weight.pt");
        var tokEmbed = TorchTensorFileReader.Read(tokEmbedPath, "tok_embed.weight");
        var dModel = json.Int("d_model");
        if (tokEmbed.dim() != 2 || tokEmbed.shape[1] != dModel)
            throw new WeightLoadException(tokEmbedPath, $"tensor 'tok_embed.weight': expected shape [n_vocab, {dModel}], got {TensorChecks.Format(tokEmbed.shape)}");
        // TDB's layer norms use PyTorch's default epsilon.
        var config = new GptConfig(dModel, json.Int("n_layers"), json.Int("n_heads"), json.Int("ctx_window"), (int)tokEmbed.shape[0], 1e-5);
        GptParameters.Validate(config, configPath);

        var expected = GptParameters.Expected(config);
        var known = expected.Select(p => p.Name).ToHashSet();
        foreach (var file in Directory.EnumerateFiles(pieces, "*.pt").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            if (!known.Contains(name)) throw new WeightLoadException(file, $"unexpected tensor '{name}'");
        }

        var parameters = new Dictionary<string, torch.Tensor>();
        foreach (var (name, shape) in expected)
        {
            var path = Path.Combine(pieces, name + ".pt");
            var tensor = name == "tok_embed.weight" ? tokEmbed : TorchTensorFileReader.Read(path, name);
            TensorChecks.ExpectShape(tensor, path, name, shape);
            parameters[name] = tensor;
        }
        return new GptCheckpoint(config, parameters.ToDictionary(kv => kv.Key, kv => kv.Value.DetachFromDisposeScope()));
    }
}
