using System.Diagnostics;
using ReconService.Bench.Weights;
using ReconService.Engine.Hooks;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Reconstitution;

/// <summary>
/// A full context window: a forward pass capturing every location, and every reconstitution, at n_ctx = 1024 tokens.
/// The engine places no limit of its own below n_ctx (request-size limits are the host's).
/// </summary>
[Collection(Serial.Name)]
public sealed class FullContextTests(ITestOutputHelper output)
{
    private const int Tokens = 1024;

    /// <summary>Every engine computation at 1024 tokens, checked against the forward pass's captures where they meet.</summary>
    private static void ServeFullContext(ReconstitutionEngine engine, string mlpAutoencoder, string attentionAutoencoder, Action<string>? log = null)
    {
        var config = engine.Config;
        var last = config.NLayers - 1;
        var layer = Math.Min(1, last);
        using var scope = NewDisposeScope();
        var tokens = randint(0, config.NVocab, [Tokens], generator: new Generator(1024), dtype: ScalarType.Int64);
        var clock = Stopwatch.StartNew();
        using var forward = engine.Forward(tokens, ActivationLocations.All);
        log?.Invoke($"forward capturing {ActivationLocations.All.Count} locations: {clock.Elapsed.TotalSeconds:F2} s");
        Assert.Equal([Tokens, config.NVocab], forward.Logits.shape);
        Assert.Equal([Tokens, Tokens, config.NHeads], forward.Captured[ActivationLocations.AttnQkProbs][last].shape);

        var postAttn = forward.Captured[ActivationLocations.ResidPostAttn][layer];
        var before = layer == 0 ? forward.Captured[ActivationLocations.ResidPostEmb][-1] : forward.Captured[ActivationLocations.ResidPostMlp][layer - 1];
        var final = forward.Captured[ActivationLocations.ResidPostMlp][last];
        var write = randn(postAttn.shape, generator: new Generator(5));

        clock.Restart();
        var mlp = new ActivationSpec(NodeType.MlpNeuron, layer, PreOrPostAct.Post);
        TensorAssert.Close(forward.Captured[ActivationLocations.MlpPostAct][layer], engine.Activations(postAttn, mlp), atol: 1e-4);
        var head = new ActivationSpec(NodeType.AttentionHead, layer, PreOrPostAct.Post, AttentionTraceType.QK);
        TensorAssert.Close(forward.Captured[ActivationLocations.AttnQkProbs][layer], engine.Activations(before, head), atol: 1e-5);
        var latents = new ActivationSpec(NodeType.MlpAutoencoderLatent, layer, PreOrPostAct.Post, Autoencoder: mlpAutoencoder);
        Assert.Equal(Tokens, engine.Activations(postAttn, latents).shape[0]);
        var attentionLatents = new ActivationSpec(NodeType.AttentionAutoencoderLatent, layer, PreOrPostAct.Pre, Autoencoder: attentionAutoencoder);
        Assert.Equal(Tokens, engine.Activations(before, attentionLatents).shape[0]);
        log?.Invoke($"activations (MLP, attention, two autoencoders): {clock.Elapsed.TotalSeconds:F2} s");

        clock.Restart();
        Assert.Equal(postAttn.shape, engine.Gradient(postAttn, mlp, [Tokens - 1, 3]).shape);
        Assert.Equal(before.shape, engine.Gradient(before, head, [Tokens - 1, 2, 0]).shape);
        Assert.Equal(postAttn.shape, engine.Gradient(postAttn, latents, [Tokens - 1, 1]).shape);
        Assert.Equal([Tokens, Tokens, config.NHeads], engine.Jvp(before, head, write).shape);
        Assert.Equal([Tokens, config.DFf], engine.Jvp(postAttn, mlp, write).shape);
        log?.Invoke($"gradients and JVPs: {clock.Elapsed.TotalSeconds:F2} s");

        clock.Restart();
        TensorAssert.Close(forward.Captured[ActivationLocations.ResidDeltaAttn][layer], engine.ResidDeltaAttn(before, layer), atol: 1e-4);
        TensorAssert.Close(forward.Captured[ActivationLocations.ResidDeltaMlp][layer], engine.ResidDeltaMlp(postAttn, layer), atol: 1e-4);
        var (attention, values) = engine.AttentionValues(before, layer);
        Assert.Equal([Tokens, Tokens, config.NHeads], attention.shape);
        Assert.Equal([Tokens, config.NHeads, config.DHead], values.shape);
        TensorAssert.Close(forward.Logits, engine.Logits(final), atol: 1e-3);
        Assert.Equal([Tokens, config.NVocab], engine.Logprobs(final).shape);
        var raw = forward.Captured[ActivationLocations.MlpPostAct][layer];
        Assert.Equal(Tokens, engine.Encode(mlpAutoencoder, raw, layer).shape[0]);
        Assert.Equal(raw.shape, engine.LatentGradient(mlpAutoencoder, raw, layer, 0).shape);
        log?.Invoke($"block outputs, attention values, logits, logprobs, encode, latent gradient: {clock.Elapsed.TotalSeconds:F2} s");
    }

    [Fact]
    public void EveryComputationServesAFullContextOfTokens()
    {
        var config = new GptConfig(DModel: 16, NLayers: 2, NHeads: 2, NCtx: Tokens, NVocab: 50);
        using var engine = new ReconstitutionEngine(RandomModels.Checkpoint(config, seed: 3),
        [
            RandomModels.Autoencoders("mlp", AutoencoderInputType.MlpPostAct, config.DFf, 24, config.NLayers, seed: 4),
            RandomModels.Autoencoders("attn", AutoencoderInputType.ResidDeltaAttn, config.DModel, 20, config.NLayers, seed: 5,
                AutoencoderActivation.TopK, k: 4),
        ]);

        ServeFullContext(engine, "mlp", "attn");
    }

    /// <summary>
    /// GPT-2-small-shaped random weights (the benchmark's, with a 4096-latent autoencoder) through the real loaders, at 1024 tokens.
    /// Opt-in (about 1 GB of memory and a minute of CPU): set <c>RECON_GPT2_SMALL_CHECK=1</c>.
    /// </summary>
    [Fact]
    public void Gpt2SmallShapedWeightsServeAFullContextWhenAskedTo()
    {
        if (Environment.GetEnvironmentVariable("RECON_GPT2_SMALL_CHECK") != "1")
        {
            output.WriteLine("not run: set RECON_GPT2_SMALL_CHECK=1");
            return;
        }
        using var temp = new TempFolder();
        var shape = BenchWeights.Gpt2Small with { NLatents = 4096, Layer = 1 };
        var weights = BenchWeights.Write(temp.Path, shape);
        var attention = Path.Combine(temp.Path, "attn", "blocks.1.hook_attn_out");
        Directory.CreateDirectory(attention);
        File.WriteAllText(Path.Combine(attention, "cfg.json"),
            $$"""{"architecture": "standard", "d_in": {{shape.DModel}}, "d_sae": 512, "hook_name": "blocks.1.hook_attn_out"}""");
        using (var scope = NewDisposeScope())
        {
            var g = new Generator(9);
            SafetensorsWriter.Write(Path.Combine(attention, "sae_weights.safetensors"),
            [
                ("W_enc", randn([shape.DModel, 512], generator: g) * 0.02f), ("b_enc", zeros(512)),
                ("W_dec", randn([512, shape.DModel], generator: g) * 0.02f), ("b_dec", zeros(shape.DModel)),
            ]);
        }
        var clock = Stopwatch.StartNew();
        using var engine = ReconstitutionEngine.Load(new EngineOptions(weights.ModelFolder,
            [new AutoencoderSource("mlp", weights.AutoencoderFolder), new AutoencoderSource("attn", Path.Combine(temp.Path, "attn"))]));
        output.WriteLine($"load: {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(1024, engine.Config.NCtx);

        ServeFullContext(engine, "mlp", "attn", output.WriteLine);
    }
}
