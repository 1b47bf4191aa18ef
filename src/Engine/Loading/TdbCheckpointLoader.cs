using ReconService.Engine.Model;
using TorchSharp;

namespace ReconService.Engine.Loading;

/// <summary>
/// Loads a TDB checkpoint: <c>config.json</c> (<c>d_model</c>, <c>n_layers</c>, <c>n_heads</c>, <c>ctx_window</c>) and
/// <c>model_pieces/&lt;parameter&gt;.pt</c>, one <c>torch.save</c>d tensor per parameter, as TDB's
/// <c>Transformer.load</c> reads them. <c>n_vocab</c> comes from <c>tok_embed.weight</c>'s shape. Keys of TDB's config
/// that change the model are honoured or refused: <c>m_mlp</c> (4: d_ff = 4 d_model), <c>m_attn</c> (1), <c>enc</c>
/// (<c>gpt2</c>, the tokenizer this service has). A piece file that is not a parameter but holds nothing (zero elements
/// or one 0-rank value) is skipped and reported through the load log.
/// </summary>
internal static class TdbCheckpointLoader
{
    public static GptCheckpoint Load(string folder, Action<string>? log = null)
    {
        var configPath = Path.Combine(folder, "config.json");
        var json = JsonConfig.Read(configPath);
        if (json.IntOrNull("m_mlp") is { } mMlp and not 4)
            throw new WeightLoadException(configPath, $"key 'm_mlp' is {mMlp}: only d_ff = 4 d_model (m_mlp 4) is supported");
        if (json.IntOrNull("m_attn") is { } mAttn and not 1)
            throw new WeightLoadException(configPath, $"key 'm_attn' is {mAttn}: only attention width d_model (m_attn 1) is supported");
        if (json.StringOrNull("enc") is { } enc and not "gpt2")
            throw new WeightLoadException(configPath, $"key 'enc' is '{enc}': this service tokenizes with GPT-2's encoding ('gpt2') only");
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
            if (known.Contains(name)) continue;
            long[] shape;
            try
            {
                shape = TorchTensorFileReader.Read(file, name).shape;
            }
            catch (WeightLoadException e)
            {
                throw new WeightLoadException(file, $"unexpected tensor '{name}' ({e.Message})", e);
            }
            if (!TensorChecks.HoldsNothing(shape)) throw new WeightLoadException(file, $"unexpected tensor '{name}'");
            log?.Invoke($"{file}: skipped tensor '{name}' of shape {TensorChecks.Format(shape)}, which is not a GPT-2 parameter and holds {TensorChecks.Describe(shape)}");
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
