using ReconService.Engine.Attribution;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Model;
using ReconService.Models;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>
/// A small random model with four autoencoder families (two on <c>mlp.post_act</c>, one ReLU and one TopK; one on
/// <c>resid.delta_mlp</c>; a TopK one on <c>resid.delta_attn</c>) and an attribution engine over them.
/// </summary>
public sealed class RandomAttribution : IDisposable
{
    public static readonly GptConfig Config = new(DModel: 16, NLayers: 2, NHeads: 2, NCtx: 12, NVocab: 11);

    public RandomAttribution()
    {
        Model = new Transformer(RandomModels.Checkpoint(Config, seed: 21));
        Sets = new[]
        {
            RandomModels.Autoencoders("mlp_post_act", AutoencoderInputType.MlpPostAct, Config.DFf, 24, Config.NLayers, 31),
            RandomModels.Autoencoders("mlp_post_act_topk", AutoencoderInputType.MlpPostAct, Config.DFf, 24, Config.NLayers, 32,
                AutoencoderActivation.TopK, k: 5),
            RandomModels.Autoencoders("resid_delta_mlp", AutoencoderInputType.ResidDeltaMlp, Config.DModel, 20, Config.NLayers, 33),
            RandomModels.Autoencoders("resid_delta_attn", AutoencoderInputType.ResidDeltaAttn, Config.DModel, 20, Config.NLayers, 34,
                AutoencoderActivation.TopK, k: 4),
        }.ToDictionary(s => s.Name);
        Engine = new AttributionEngine(Model, Sets);
    }

    public Transformer Model { get; }
    public Dictionary<string, AutoencoderSet> Sets { get; }
    internal AttributionEngine Engine { get; }

    public static readonly int[] Tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];

    /// <summary>logit_diff of token 3 against token 7 at the last position, dense.</summary>
    public static AttributionSpec Spec(int[]? tokens = null, params string[] autoencoders) => new()
    {
        Sequences = [tokens ?? Tokens],
        Loss = new AttributionLossSpec(AttributionLossName.LogitDiff, [3], [7]),
        Autoencoders = autoencoders,
        Dense = true,
    };

    /// <summary>The loss <paramref name="spec"/> names, on logits <c>[T, n_vocab]</c>, for <see cref="DirectReference"/>.</summary>
    public static Func<Tensor, Tensor> Loss(AttributionLossSpec spec) => logits =>
    {
        var row = logits[spec.Position < 0 ? logits.shape[0] + spec.Position : spec.Position];
        var targets = tensor(spec.TargetTokens.Select(t => (long)t).ToArray());
        return spec.Name switch
        {
            AttributionLossName.Probs => row.softmax(0).index_select(0, targets).sum(),
            AttributionLossName.Logprob => row.softmax(0).index_select(0, targets).sum().log(),
            _ => row.index_select(0, targets).mean() - (spec.DistractorTokens.Count == 0 ? zeros(1)[0]
                : row.index_select(0, tensor(spec.DistractorTokens.Select(t => (long)t).ToArray())).mean()),
        };
    };

    public void Dispose()
    {
        Engine.Dispose();
        Model.Dispose();
        foreach (var set in Sets.Values) set.Dispose();
    }
}
