using ReconService.Engine;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Models;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests;

/// <summary>Small random models with real structure, for tests that need no reference values.</summary>
internal static class RandomModels
{
    public static readonly GptConfig Config = new(DModel: 16, NLayers: 2, NHeads: 2, NCtx: 8, NVocab: 11);

    public static GptCheckpoint Checkpoint(GptConfig config, int seed)
    {
        var generator = new TorchSharp.torch.Generator((ulong)seed);
        Tensor R(params long[] shape) => (randn(shape, generator: generator) * 0.3f).DetachFromDisposeScope();
        var p = new Dictionary<string, Tensor>
        {
            ["tok_embed.weight"] = R(config.NVocab, config.DModel),
            ["pos_embed.weight"] = R(config.NCtx, config.DModel),
            ["final_ln.weight"] = R(config.DModel) + 1,
            ["final_ln.bias"] = R(config.DModel),
            ["unembed.weight"] = R(config.NVocab, config.DModel),
        };
        for (var l = 0; l < config.NLayers; l++)
        {
            var k = $"xf_layers.{l}";
            foreach (var ln in new[] { "ln_1", "ln_2" })
            {
                p[$"{k}.{ln}.weight"] = R(config.DModel) + 1;
                p[$"{k}.{ln}.bias"] = R(config.DModel);
            }
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                p[$"{k}.attn.{proj}.weight"] = R(config.DModel, config.DModel);
                p[$"{k}.attn.{proj}.bias"] = R(config.DModel);
            }
            p[$"{k}.mlp.in_layer.weight"] = R(config.DFf, config.DModel);
            p[$"{k}.mlp.in_layer.bias"] = R(config.DFf);
            p[$"{k}.mlp.out_layer.weight"] = R(config.DModel, config.DFf);
            p[$"{k}.mlp.out_layer.bias"] = R(config.DModel);
        }
        return new GptCheckpoint(config, p);
    }

    public static AutoencoderSet Autoencoders(string name, AutoencoderInputType inputType, int nInputs, int nLatents,
        int nLayers, int seed, AutoencoderActivation activation = AutoencoderActivation.ReLU, int? k = null)
    {
        var generator = new TorchSharp.torch.Generator((ulong)seed);
        Tensor R(params long[] shape) => (randn(shape, generator: generator) * 0.3f).DetachFromDisposeScope();
        var layers = Enumerable.Range(0, nLayers).ToDictionary(l => l, _ =>
            new Autoencoder(R(nInputs), R(nLatents, nInputs), R(nLatents), R(nInputs, nLatents), activation, k));
        return new AutoencoderSet(name, inputType, layers);
    }

    /// <summary>An engine over a random model with one autoencoder family of each input type.</summary>
    public static ReconstitutionEngine Engine(int seed = 7)
    {
        var c = Config;
        return new ReconstitutionEngine(Checkpoint(c, seed),
        [
            Autoencoders("mlp_post_act", AutoencoderInputType.MlpPostAct, c.DFf, 24, c.NLayers, seed + 1),
            Autoencoders("resid_delta_mlp", AutoencoderInputType.ResidDeltaMlp, c.DModel, 20, c.NLayers, seed + 2),
            Autoencoders("resid_delta_attn", AutoencoderInputType.ResidDeltaAttn, c.DModel, 20, c.NLayers, seed + 3,
                AutoencoderActivation.TopK, k: 4),
        ]);
    }
}
