using ReconService.Engine.Hooks;
using ReconService.Engine.Loading;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Autoencoders;

/// <summary>
/// Residual-stream autoencoders and transcoders inside the engine: latents reconstituted from the residual each family
/// names (<c>GET /v1/model</c>'s <c>residual</c>) equal SAELens's encoder applied to the activation captured by a forward
/// pass; their gradients and JVPs agree; <c>GET /v1/model</c>'s details describe them.
/// </summary>
public sealed class ResidualAutoencoderReconstitutionTests : IDisposable
{
    private const int DSae = 24;
    private static readonly Model.GptConfig Config = RandomModels.Config;

    private static readonly (string Name, SaeSpec Spec)[] Families =
    [
        ("resid_pre_centred", new("standard", "blocks.{0}.hook_resid_pre", Config.DModel, DSae, Version6: true) { CenterWritingWeights = true }),
        ("resid_mid_jumprelu", new("jumprelu", "blocks.{0}.hook_resid_mid", Config.DModel, DSae, Version6: true)),
        ("resid_post_topk_layer_norm", new("topk", "blocks.{0}.hook_resid_post", Config.DModel, DSae, Version6: false) { K = 5, Normalize = "layer_norm" }),
        ("resid_pre_constant_norm", new("standard", "blocks.{0}.hook_resid_pre", Config.DModel, DSae, Version6: true) { Normalize = "constant_norm_rescale" }),
        ("transcoder_ln2", new("transcoder", "blocks.{0}.ln2.hook_normalized", Config.DModel, DSae, Version6: true) { ApplyBDecToInput = false }),
        ("transcoder_mid_centred", new("jumprelu_transcoder", "blocks.{0}.hook_resid_mid", Config.DModel, DSae, Version6: true) { ApplyBDecToInput = false, CenterWritingWeights = true }),
    ];

    private readonly TempFolder _temp = new();
    private readonly ReconstitutionEngine _engine;
    private readonly Dictionary<string, Dictionary<int, (SaeSpec Spec, Dictionary<string, Tensor> Weights)>> _weights = [];

    public ResidualAutoencoderReconstitutionTests()
    {
        var sets = new List<Engine.Autoencoders.AutoencoderSet>();
        foreach (var (name, spec) in Families)
        {
            var root = Path.Combine(_temp.Path, name);
            _weights[name] = [];
            for (var layer = 0; layer < Config.NLayers; layer++)
            {
                var layerSpec = spec with { Hook = spec.Hook.Replace("{0}", layer.ToString(System.Globalization.CultureInfo.InvariantCulture)) };
                _weights[name][layer] = (layerSpec, layerSpec.Write(root, seed: 40 + layer).ToDictionary(kv => kv.Key, kv => kv.Value.DetachFromDisposeScope()));
            }
            sets.Add(AutoencoderLoader.Load(name, root));
        }
        _engine = new ReconstitutionEngine(RandomModels.Checkpoint(Config, seed: 11), sets);
    }

    public void Dispose()
    {
        _engine.Dispose();
        _temp.Dispose();
    }

    public static TheoryData<string, int> FamiliesAndLayers()
    {
        var data = new TheoryData<string, int>();
        foreach (var (name, _) in Families) for (var layer = 0; layer < Config.NLayers; layer++) data.Add(name, layer);
        return data;
    }

    /// <summary>The residual a latent request sends and the activation the autoencoder reads, from one forward pass.</summary>
    private (Tensor Residual, Tensor Input) Captured(string name, int layer, Tensor tokens)
    {
        string[] capture = [ActivationLocations.ResidPostEmb, ActivationLocations.ResidPostAttn, ActivationLocations.ResidPostMlp];
        using var forward = _engine.Forward(tokens, capture);
        var residual = _engine.Autoencoders[name].Details!.Residual switch
        {
            "resid.pre" => layer == 0 ? forward.Captured[ActivationLocations.ResidPostEmb][-1] : forward.Captured[ActivationLocations.ResidPostMlp][layer - 1],
            "resid.post_attn" => forward.Captured[ActivationLocations.ResidPostAttn][layer],
            _ => forward.Captured[ActivationLocations.ResidPostMlp][layer],
        };
        residual = residual.clone();
        var input = _weights[name][layer].Spec.Hook.EndsWith("ln2.hook_normalized", StringComparison.Ordinal) ? Ln2Normalized(residual) : residual;
        return (residual, input);
    }

    /// <summary>TransformerLens's <c>ln2.hook_normalized</c>: <c>c / sqrt(mean(c^2) + eps)</c>, before <c>ln_2</c>'s weight and bias.</summary>
    private static Tensor Ln2Normalized(Tensor x)
    {
        var c = x - x.mean([-1], keepdim: true);
        return c / (c.square().mean([-1], keepdim: true) + Config.LayerNormEpsilon).sqrt();
    }

    private static Tensor Tokens(int seed) => randint(0, Config.NVocab, [Config.NCtx], generator: new Generator((ulong)seed), dtype: ScalarType.Int64);

    [Theory]
    [MemberData(nameof(FamiliesAndLayers))]
    public void LatentsFromTheNamedResidualEqualTheEncoderOnTheHookedActivation(string name, int layer)
    {
        using var scope = NewDisposeScope();
        var (residual, input) = Captured(name, layer, Tokens(layer + 3));
        var (spec, weights) = _weights[name][layer];
        var expected = spec.Reference(weights, input).Latents;
        var info = _engine.Autoencoders[name];

        var latents = _engine.Activations(residual, new ActivationSpec(info.NodeType, layer, PreOrPostAct.Post, Autoencoder: name));
        var encoded = _engine.Encode(name, input, layer);

        TensorAssert.Close(expected, latents);
        TensorAssert.Close(expected, encoded);
        Assert.True(expected.count_nonzero().item<long>() > 0, "some latent is active");
    }

    [Theory]
    [MemberData(nameof(FamiliesAndLayers))]
    public void JvpOfALatentEqualsItsGradientDottedWithTheWriteVector(string name, int layer)
    {
        using var scope = NewDisposeScope();
        var (residual, _) = Captured(name, layer, Tokens(layer + 5));
        var info = _engine.Autoencoders[name];
        var spec = new ActivationSpec(info.NodeType, layer, PreOrPostAct.Pre, Autoencoder: name, DetachLayerNormScale: false);
        var write = randn(residual.shape, generator: new Generator(3));

        var jvp = _engine.Jvp(residual, spec, write);
        foreach (var (token, latent) in new[] { (Config.NCtx - 1, 0), (2, DSae - 1), (0, 7) })
        {
            var gradient = _engine.Gradient(residual, spec, [token, latent]);
            var expected = (gradient * write).sum().item<float>();
            Assert.True(Math.Abs(expected - jvp[token, latent].item<float>()) <= 1e-4 + 1e-3 * Math.Abs(expected),
                $"token {token} latent {latent}: gradient . v = {expected}, jvp {jvp[token, latent].item<float>()}");
        }
    }

    [Fact]
    public void ModelInfoStatesTheResidualHooksThresholdAndPreprocessing()
    {
        var centred = _engine.Autoencoders["resid_pre_centred"];
        Assert.Equal(AutoencoderInputType.ResidPre, centred.InputType);
        Assert.Equal(NodeType.AutoencoderLatent, centred.NodeType);
        Assert.Equal("resid.pre", centred.Details!.Residual);
        Assert.Equal("blocks.{layer}.hook_resid_pre", centred.Details.InputHook);
        Assert.True(centred.Details.CentresInput);
        Assert.True(centred.Details.SubtractsDecoderBias);

        var jump = _engine.Autoencoders["resid_mid_jumprelu"];
        Assert.Equal(AutoencoderActivation.JumpReLU, jump.Activation);
        var thresholds = _weights["resid_mid_jumprelu"].Values.Select(w => w.Weights["threshold"]).ToArray();
        Assert.Equal(thresholds.Min(t => t.min().item<float>()), jump.Details!.ThresholdMin);
        Assert.Equal(thresholds.Max(t => t.max().item<float>()), jump.Details.ThresholdMax);
        Assert.Equal("resid.post_attn", jump.Details.Residual);

        var topk = _engine.Autoencoders["resid_post_topk_layer_norm"];
        Assert.Equal(5, topk.K);
        Assert.Equal(AutoencoderNormalization.LayerNorm, topk.Details!.Normalization);
        Assert.Equal("resid.post_mlp", topk.Details.Residual);
        Assert.Equal("saelens-5", topk.Details.Format);

        var transcoder = _engine.Autoencoders["transcoder_mid_centred"];
        Assert.Equal(NodeType.MlpAutoencoderLatent, transcoder.NodeType);
        Assert.Equal(AutoencoderInputType.ResidDeltaMlp, transcoder.Details!.OutputType);
        Assert.Equal("blocks.{layer}.hook_mlp_out", transcoder.Details.OutputHook);
        Assert.Equal("jumprelu_transcoder", transcoder.Details.Architecture);
        Assert.True(transcoder.Details.CentresInput);
        Assert.True(transcoder.Details.CentresOutput);
        Assert.False(transcoder.Details.SubtractsDecoderBias);
    }

    [Fact]
    public void TranscoderReconstructsTheCentredMlpOutputFromTheMlpInput()
    {
        using var scope = NewDisposeScope();
        const string name = "transcoder_mid_centred";
        var (residual, input) = Captured(name, 1, Tokens(8));
        var (spec, weights) = _weights[name][1];
        using var set = AutoencoderLoader.Load(name, Path.Combine(_temp.Path, name));
        var transcoder = set.Layers[1];

        var reconstruction = transcoder.Reconstruct(input).Value;
        var mlpOut = _engine.ResidDeltaMlp(residual, 1);

        TensorAssert.Close(spec.Reference(weights, input).Reconstruction, reconstruction, atol: 1e-4);
        Assert.Equal(mlpOut.shape, reconstruction.shape);
        TensorAssert.Close(mlpOut - mlpOut.mean([-1], keepdim: true), transcoder.ReconstructionTarget(mlpOut).Value);
    }

    [Fact]
    public void ResidualAutoencodersServeOnlyTheGenericNodeTypeAndTranscodersTheMlpOne()
    {
        using var scope = NewDisposeScope();
        var residual = randn(4, Config.DModel);

        var error = Assert.Throws<ReconstitutionException>(() =>
            _engine.Activations(residual, new ActivationSpec(NodeType.MlpAutoencoderLatent, 0, PreOrPostAct.Post, Autoencoder: "resid_pre_centred")));
        Assert.Equal("autoencoder", error.Field);
        Assert.Contains("resid.pre", error.Message);

        var generic = _engine.Activations(residual, new ActivationSpec(NodeType.AutoencoderLatent, 0, PreOrPostAct.Post, Autoencoder: "transcoder_ln2"));
        var mlp = _engine.Activations(residual, new ActivationSpec(NodeType.MlpAutoencoderLatent, 0, PreOrPostAct.Post, Autoencoder: "transcoder_ln2"));
        TensorAssert.Identical(generic, mlp, "transcoder latents");
    }
}
