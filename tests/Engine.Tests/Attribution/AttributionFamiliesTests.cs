using System.Text.Json.Nodes;
using ReconService.Engine.Attribution;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Hooks;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Models;
using ReconService.Models.Wire;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>
/// Transcoders and residual-stream autoencoders on the golden model, made (as the Api's family tests do) by rewriting the
/// golden SAELens <c>resid_delta_mlp</c> configs: a transcoder from <c>ln2.hook_normalized</c> and one from
/// <c>hook_resid_mid</c> to <c>hook_mlp_out</c>; SAEs on <c>hook_resid_pre</c> (centred, <c>layer_norm</c>),
/// <c>hook_resid_mid</c> (plain) and <c>hook_resid_post</c> (<c>constant_norm_rescale</c>); and an SAE (not a transcoder) on
/// <c>ln2.hook_normalized</c>, which attribution does not splice. Loaded by the SAELens loader.
/// </summary>
public sealed class GoldenFamilies : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "recon-attrfam-" + Guid.NewGuid().ToString("N"));

    public GoldenFamilies()
    {
        var source = Path.Combine(TestPaths.GoldenDir, "sae", "resid_delta_mlp", "saelens");
        if (!Directory.Exists(source) || !Directory.Exists(Path.Combine(TestPaths.GoldenDir, "model"))) return;
        Model = new Transformer(ModelLoader.Load(Path.Combine(TestPaths.GoldenDir, "model")));
        Sets = new Dictionary<string, AutoencoderSet>
        {
            ["tc"] = Family(source, "tc", (cfg, l) => Transcoder(cfg, $"blocks.{l}.ln2.hook_normalized", l)),
            ["tc_mid"] = Family(source, "tc_mid", (cfg, l) => Transcoder(cfg, $"blocks.{l}.hook_resid_mid", l)),
            ["res_pre"] = Family(source, "res_pre", (cfg, l) =>
            {
                cfg["hook_name"] = $"blocks.{l}.hook_resid_pre";
                cfg["normalize_activations"] = "layer_norm";
                cfg["model_from_pretrained_kwargs"] = new JsonObject { ["center_writing_weights"] = true };
            }),
            ["res_mid"] = Family(source, "res_mid", (cfg, l) => cfg["hook_name"] = $"blocks.{l}.hook_resid_mid"),
            ["res_post"] = Family(source, "res_post", (cfg, l) =>
            {
                cfg["hook_name"] = $"blocks.{l}.hook_resid_post";
                cfg["normalize_activations"] = "constant_norm_rescale";
            }),
            ["ln2_sae"] = Family(source, "ln2_sae", (cfg, l) => cfg["hook_name"] = $"blocks.{l}.ln2.hook_normalized"),
        };
        Engine = new AttributionEngine(Model, Sets);
    }

    public Transformer? Model { get; }
    public Dictionary<string, AutoencoderSet> Sets { get; } = [];
    internal AttributionEngine? Engine { get; }

    /// <summary>Skips the calling test when the golden set is absent.</summary>
    public void Require() =>
        Skip.If(Engine is null, $"the golden set is not at {TestPaths.GoldenDir} (../shared/golden beside the repository, or RECON_GOLDEN_DIR)");

    private static void Transcoder(JsonObject cfg, string hook, int layer)
    {
        cfg["architecture"] = "transcoder";
        cfg["hook_name"] = hook;
        cfg["hook_name_out"] = $"blocks.{layer}.hook_mlp_out";
        cfg["d_out"] = cfg["d_in"]!.GetValue<int>();
        cfg["apply_b_dec_to_input"] = false;
    }

    private AutoencoderSet Family(string source, string name, Action<JsonObject, int> edit)
    {
        var target = ReconService.Tests.Shared.SaeLensFamilyCopy.Copy(source, Path.Combine(_root, name), edit);
        return AutoencoderLoader.Load(name, target);
    }

    public void Dispose()
    {
        Engine?.Dispose();
        Model?.Dispose();
        foreach (var set in Sets.Values) set.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// A plain forward of the model with one family spliced in by the definition, written independently of the engine: at
/// each of its layers the replaced activation (the residual, or for a transcoder the MLP's output) becomes
/// <c>Decode(z, x) + e</c> with <see cref="Autoencoder.Decode"/> itself, <c>z = Encode(x)</c> and
/// <c>e = ReconstructionTarget(y) - Decode(z, x)</c> leaves of autograd (optionally one latent or one token's error set
/// to zero), upstream gradients passing through unchanged (TDB's <c>add_error</c> splice without ablations is the identity
/// for them), the final layer norm's scale detached; the gradient of the loss with respect to z and e, and at the final residual.
/// </summary>
internal sealed class SplicedForward
{
    public SplicedForward(Transformer model, AutoencoderSet set, int[] tokens, Func<Tensor, Tensor> loss,
        (int Layer, long Token, long Latent)? zeroLatent = null, (int Layer, long Token)? zeroError = null)
    {
        using var _ = enable_grad();
        var hooks = new HookTree();
        hooks.Append("resid.ln_f.scale.fwd", StandardHooks.Detach);
        var layers = set.Layers.Keys.ToList();
        var inputs = new Dictionary<int, Tensor>();
        if (set.OutputType is not null)
        {
            var input = set.InputType == AutoencoderInputType.Ln2Normalized ? "resid.torso.ln_mlp.post_scale.fwd" : "resid.torso.post_attn.fwd";
            hooks.Append(input, (x, c) => { inputs[c.Layer!.Value] = x.Value; return x; }, layers);
            hooks.Append("resid.torso.delta_mlp.fwd", (y, c) => Replace(set, c.Layer!.Value, inputs[c.Layer!.Value], y.Value, zeroLatent, zeroError), layers);
        }
        else if (set.InputType == AutoencoderInputType.ResidPostAttn)
            hooks.Append("resid.torso.post_attn.fwd", (x, c) => Replace(set, c.Layer!.Value, x.Value, x.Value, zeroLatent, zeroError), layers);
        Tensor resid = model.Embed(tensor(tokens.Select(t => (long)t).ToArray()).unsqueeze(0), new HookTree()).Value.detach();
        for (var l = 0; l < model.Config.NLayers; l++)
        {
            if (set.InputType == AutoencoderInputType.ResidPre && set.OutputType is null && set.Layers.ContainsKey(l))
                resid = Replace(set, l, resid, resid, zeroLatent, zeroError);
            resid = model.Layer(l).Forward(resid, hooks).Value;
            if (set.InputType == AutoencoderInputType.ResidPostMlp && set.Layers.ContainsKey(l))
                resid = Replace(set, l, resid, resid, zeroLatent, zeroError);
        }
        Loss = loss(model.Unembed(resid, hooks).Value[0]);
        var names = Latents.Keys.ToList();
        var gradients = autograd.grad([Loss], [.. names.Select(l => Latents[l]), .. names.Select(l => Errors[l])], allow_unused: true);
        for (var i = 0; i < names.Count; i++)
        {
            LatentGradients[names[i]] = gradients[i] is { IsInvalid: false } g ? g : zeros_like(Latents[names[i]]);
            ErrorGradients[names[i]] = gradients[names.Count + i] is { IsInvalid: false } h ? h : zeros_like(Errors[names[i]]);
        }
        var final = resid.detach().requires_grad_(true);
        FinalGradient = autograd.grad([loss(model.Unembed(final, hooks).Value[0])], [final])[0][0];
        Loss = Loss.detach();
    }

    public Tensor Loss { get; }
    /// <summary>Per layer: x, z, e (leaves) and their gradients, <c>[1, T, ...]</c>.</summary>
    public Dictionary<int, Tensor> Inputs { get; } = [];
    public Dictionary<int, Tensor> Latents { get; } = [];
    public Dictionary<int, Tensor> Errors { get; } = [];
    public Dictionary<int, Tensor> LatentGradients { get; } = [];
    public Dictionary<int, Tensor> ErrorGradients { get; } = [];
    /// <summary>d loss / d final residual <c>[T, d_model]</c>.</summary>
    public Tensor FinalGradient { get; }

    private Tensor Replace(AutoencoderSet set, int layer, Tensor x, Tensor y, (int Layer, long Token, long Latent)? zeroLatent,
        (int Layer, long Token)? zeroError)
    {
        var ae = set.Layers[layer];
        var input = x.detach();
        Tensor z, e;
        using (no_grad())
        {
            z = ae.Encode(input).Value.clone();
            e = (ae.ReconstructionTarget(y.detach()).Value - ae.Decode(z, input).Value).clone();
            if (zeroLatent is { } zl && zl.Layer == layer) z[0, zl.Token, zl.Latent] = tensor(0f);
            if (zeroError is { } ze && ze.Layer == layer) e[0, ze.Token] = zeros(e.shape[^1]);
        }
        Inputs[layer] = input;
        Latents[layer] = z.requires_grad_(true);
        Errors[layer] = e.requires_grad_(true);
        // The value is Decode(z, x) + e; y - y.detach() (zero) passes upstream nodes' gradient through, as TDB's splice does.
        return ae.Decode(z, input).Value + e + (y - y.detach());
    }
}

/// <summary>
/// Attribution with transcoders and residual-stream autoencoders spliced in, against <see cref="SplicedForward"/>: the loss
/// is unchanged; latents' activation, act × grad (z times autograd's gradient with respect to z), write norm and direction
/// write (through the decoder, per token: <c>Decode(z + 1_j, x) - Decode(z, x)</c>); error nodes' four scalars (norm,
/// e . autograd's gradient with respect to e); verified latents and errors change the loss as the direct forward with that
/// latent or that token's error zeroed, and as a separate request ablating the latent; a trace from a transcoder latent.
/// </summary>
public sealed class AttributionFamiliesTests(GoldenFamilies golden) : IClassFixture<GoldenFamilies>
{
    private static readonly int[] Tokens = [1, 5, 9, 13, 2, 7, 30, 4, 11];
    private static readonly AttributionLossSpec LossSpec = new(AttributionLossName.LogitDiff, [3], [8]);

    private static AttributionSpec Spec(params string[] autoencoders) => new()
    {
        Sequences = [Tokens],
        Loss = LossSpec,
        Autoencoders = autoencoders,
        Dense = true,
    };

    /// <summary>The DST infix and the latent and error node types of a family.</summary>
    private static (string Latent, string Error, AttributionNodeType LatentType, AttributionNodeType ErrorType) Names(AutoencoderSet set) =>
        set.OutputType is not null
            ? ("online_mlp_autoencoder", "online_residual_mlp_autoencoder_error", AttributionNodeType.MlpAutoencoderLatent, AttributionNodeType.MlpAutoencoderError)
            : ("online_autoencoder", "online_residual_autoencoder_error", AttributionNodeType.AutoencoderLatent, AttributionNodeType.AutoencoderError);

    private static void Close(Tensor expected, Tensor actual, string what)
    {
        var e = expected.detach().reshape(actual.shape);
        var deviation = (actual - e).abs().max().item<float>();
        var scale = e.abs().max().item<float>();
        Assert.True(deviation <= 1e-5 + 1e-4 * scale, $"{what}: max |actual - expected| {deviation} (|expected| up to {scale})");
    }

    [SkippableTheory]
    [InlineData("tc")]
    [InlineData("tc_mid")]
    [InlineData("res_pre")]
    [InlineData("res_mid")]
    [InlineData("res_post")]
    public void LatentsAndErrorsMatchADirectComputationAndTheLossIsUnchanged(string name)
    {
        golden.Require();
        using var scope = NewDisposeScope();
        var set = golden.Sets[name];
        var loss = RandomAttribution.Loss(LossSpec);
        var plain = new DirectReference(golden.Model!, Tokens, loss, gradients: false).Loss.item<float>();
        var direct = new SplicedForward(golden.Model!, set, Tokens, loss);
        using var result = golden.Engine!.Compute(Spec(name));
        var r = result.Results[0];
        Assert.Equal(plain, r.Loss!.Value, 4);
        Assert.Equal(plain, direct.Loss.item<float>(), 4); // Decode(z, x) + e: the error makes the splice exact
        var (latent, error, latentType, errorType) = Names(set);
        var s = r.Scalars!;
        var g = direct.FinalGradient;
        foreach (var (layer, ae) in set.Layers)
        {
            var key = layer.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var x = direct.Inputs[layer][0];
            var z = direct.Latents[layer][0].detach();
            // Each latent's write per token, by the definition: Decode(z + 1_j, x) - Decode(z, x), [T, n_latents, n_out].
            var n = ae.NLatents;
            var unit = eye(n).unsqueeze(0).expand(x.shape[0], n, n);
            var writes = ae.Decode(unit, x.unsqueeze(1)).Value - ae.Decode(zeros(x.shape[0], 1, n), x.unsqueeze(1)).Value;
            Close(z, s["activation"][latent + "_latent"][key], $"{name} {layer} latent activation");
            Close(z * direct.LatentGradients[layer][0], s["act_times_grad"][latent + "_act_times_grad"][key], $"{name} {layer} latent act x grad");
            Close(z * writes.norm(-1), s["write_norm"][latent + "_write_norm"][key], $"{name} {layer} latent write norm");
            Close(z * einsum("tjd,td->tj", writes, g), s["direction_write"][latent + "_write_to_final_residual_grad"][key], $"{name} {layer} latent direction write");
            var e = direct.Errors[layer][0].detach();
            Close(e.norm(-1, keepdim: true), s["activation"][error][key], $"{name} {layer} error activation");
            Close((e * direct.ErrorGradients[layer][0]).sum(-1, keepdim: true), s["act_times_grad"][error + "_act_times_grad"][key], $"{name} {layer} error act x grad");
            Close(e.norm(-1, keepdim: true), s["write_norm"][error + "_write_norm"][key], $"{name} {layer} error write norm");
            Close((e * g).sum(-1, keepdim: true), s["direction_write"][error + "_write_to_final_residual_grad"][key], $"{name} {layer} error direction write");
        }
        Assert.Contains(r.NodeTable, row => row.NodeType == latentType && row.Autoencoder == name);
        Assert.Contains(r.NodeTable, row => row.NodeType == errorType && row.Autoencoder == name && row.TensorIndices[1] == 0);
        if (set.OutputType is not null) // a transcoder stands in for the MLP at its layers: no neurons there
            Assert.DoesNotContain(r.NodeTable, row => row.NodeType == AttributionNodeType.MlpNeuron && set.Layers.ContainsKey(row.LayerIndex!.Value));
        else
            Assert.Contains(r.NodeTable, row => row.NodeType == AttributionNodeType.MlpNeuron);
    }

    [SkippableTheory]
    [InlineData("tc")]
    [InlineData("tc_mid")]
    [InlineData("res_pre")]
    [InlineData("res_mid")]
    [InlineData("res_post")]
    public void VerifiedLatentsAndErrorsChangeTheLossAsADirectForwardAndASeparateAblation(string name)
    {
        golden.Require();
        using var scope = NewDisposeScope();
        var set = golden.Sets[name];
        var loss = RandomAttribution.Loss(LossSpec);
        using var result = golden.Engine!.Compute(Spec(name) with { VerifyTopN = 256, Dense = false });
        var r = result.Results[0];
        var baseline = new SplicedForward(golden.Model!, set, Tokens, loss).Loss.item<float>();
        var (_, _, latentType, errorType) = Names(set);
        var latents = r.Verification!.Where(v => v.Node.NodeType == latentType).Take(4).ToList();
        var errors = r.Verification!.Where(v => v.Node.NodeType == errorType).Take(4).ToList();
        Assert.NotEmpty(latents);
        Assert.NotEmpty(errors);
        foreach (var row in latents.Concat(errors))
        {
            var (layer, i) = (row.Node.LayerIndex!.Value, row.Node.TensorIndices);
            var zeroed = row.Node.NodeType == latentType
                ? new SplicedForward(golden.Model!, set, Tokens, loss, zeroLatent: (layer, i[0], i[1]))
                : new SplicedForward(golden.Model!, set, Tokens, loss, zeroError: (layer, i[0]));
            var exact = zeroed.Loss.item<float>() - baseline;
            Assert.True(Math.Abs(row.ExactChange - exact) <= 2e-5 + 1e-4 * Math.Abs(baseline),
                $"{row.Node.NodeType} {layer} [{string.Join(", ", i)}]: exact change {row.ExactChange}, direct {exact}");
            Assert.Equal(-row.ActTimesGrad, row.EstimatedChange);
        }
        foreach (var row in latents)
        {
            var nodeType = set.OutputType is null ? NodeType.AutoencoderLatent : NodeType.MlpAutoencoderLatent;
            using var ablated = golden.Engine.Compute(Spec(name) with
            {
                Dense = false,
                Ablations = [new AttributionAblationSpec(nodeType, row.Node.LayerIndex!.Value, [.. row.Node.TensorIndices.Select(v => (long?)v)], 0, name)],
            });
            Assert.Equal(row.AblatedValue, ablated.Results[0].Loss!.Value, 4);
            Assert.Equal(r.Loss!.Value, ablated.Results[0].UnablatedLoss!.Value, 5);
        }
    }

    [SkippableFact]
    public void ATraceFromATranscoderLatentStartsFromItsPreActivationFromTheNormalisedMlpInput()
    {
        golden.Require();
        using var scope = NewDisposeScope();
        var set = golden.Sets["tc"];
        var layer = set.Layers.Keys.Max();
        var ae = set.Layers[layer];
        const long token = 6;
        // Direct: the encoder pre-activation from ln_2's normalised input at the layer, that norm's scale detached.
        using var grad = enable_grad();
        var hooks = new HookTree();
        Tensor? normalised = null;
        hooks.Append("resid.torso.ln_mlp.scale.fwd", StandardHooks.Detach, [layer]);
        hooks.Append("resid.torso.ln_mlp.post_scale.fwd", (x, _) => { normalised = x.Value; return x; }, [layer]);
        var embedding = golden.Model!.Embed(tensor(Tokens.Select(t => (long)t).ToArray()).unsqueeze(0), new HookTree()).Value.detach().requires_grad_(true);
        Tensor resid = embedding;
        for (var l = 0; l <= layer; l++) resid = golden.Model.Layer(l).Forward(resid, hooks).Value;
        var preActs = ae.EncodePreAct(normalised!).Value[0, token];
        var latent = preActs.argmax().item<long>();
        var value = preActs[latent];
        var tokenAttribution = (embedding * autograd.grad([value], [embedding])[0]).sum(-1)[0];

        using var result = golden.Engine!.Compute(Spec("tc") with
        {
            Loss = null,
            Trace = new AttributionTraceSpec(NodeType.MlpAutoencoderLatent, layer, [token, latent], Autoencoder: "tc"),
            VerifyTopN = 5,
        });
        var r = result.Results[0];
        Assert.Equal(value.item<float>(), r.TracedValue!.Value, 4);
        Close(tokenAttribution, r.Scalars!["act_times_grad"]["token_attribution"]["none"], "token attribution of the traced latent");
        // Nothing downstream of the layer's MLP input reaches it: the layer's own transcoder latents have no act x grad.
        Close(zeros(Tokens.Length, ae.NLatents), r.Scalars["act_times_grad"]["online_mlp_autoencoder_act_times_grad"][layer.ToString(System.Globalization.CultureInfo.InvariantCulture)], "same-layer latents");
    }

    [SkippableFact]
    public void ATraceSeesResidualSplicesAtAndBeforeTheResidualItReadsAndNothingAfter()
    {
        golden.Require();
        using var scope = NewDisposeScope();
        var layer = golden.Sets["tc"].Layers.Keys.Max();
        var key = layer.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var trace = new AttributionTraceSpec(NodeType.MlpAutoencoderLatent, layer, [6, 0], Autoencoder: "tc");
        using var alone = golden.Engine!.Compute(Spec("tc") with { Loss = null, Trace = trace });
        using var spliced = golden.Engine.Compute(Spec("tc", "res_mid", "res_post") with { Loss = null, Trace = trace, VerifyTopN = 10 });
        var r = spliced.Results[0];
        Assert.Equal(alone.Results[0].TracedValue!.Value, r.TracedValue!.Value, 5);
        // resid.post_attn at the traced layer is the residual the latent reads: its latents and error are upstream.
        var mid = r.Scalars!["act_times_grad"]["online_autoencoder_act_times_grad:res_mid"][key];
        Assert.True(mid.abs().sum().item<float>() > 0);
        Assert.True(r.Scalars["direction_write"]["online_residual_autoencoder_error_write_to_final_residual_grad:res_mid"][key].abs().sum().item<float>() > 0);
        // resid.post_mlp at the traced layer comes after it.
        Assert.Equal(0f, r.Scalars["act_times_grad"]["online_autoencoder_act_times_grad:res_post"][key].abs().sum().item<float>());
        Assert.Equal(0f, r.Scalars["direction_write"]["online_autoencoder_write_to_final_residual_grad:res_post"][key].abs().sum().item<float>());
        Assert.All(r.Verification!, v => Assert.True(double.IsFinite(v.ExactChange)));
    }

    [SkippableFact]
    public void EveryFamilyAtOnceKeepsTheLossAndOrdersResidualFamiliesLast()
    {
        golden.Require();
        using var scope = NewDisposeScope();
        var loss = RandomAttribution.Loss(LossSpec);
        var plain = new DirectReference(golden.Model!, Tokens, loss, gradients: false).Loss.item<float>();
        using var result = golden.Engine!.Compute(Spec("res_post", "tc", "res_pre", "res_mid") with { VerifyTopN = 20 });
        var r = result.Results[0];
        Assert.Equal(plain, r.Loss!.Value, 4);
        var order = r.Sums["activation"].Keys.ToList();
        Assert.Equal(["always_one", "online_mlp_autoencoder_latent", "online_residual_mlp_autoencoder_error", "attn_qk_probs",
            "online_autoencoder_latent:res_post", "online_residual_autoencoder_error:res_post",
            "online_autoencoder_latent:res_pre", "online_residual_autoencoder_error:res_pre",
            "online_autoencoder_latent:res_mid", "online_residual_autoencoder_error:res_mid"], order.Where(k => !k.StartsWith("mlp_", StringComparison.Ordinal)));
        Assert.Equal(20, r.Verification!.Count);
        Assert.All(r.Verification, row => Assert.Equal(row.AblatedValue - r.Loss.Value, row.ExactChange, 5));
    }

    [SkippableFact]
    public void FamiliesAttributionDoesNotSpliceAndTracesFromResidualLatentsAreRefusedNamingTheField()
    {
        golden.Require();
        var error = Assert.Throws<ReconstitutionException>(() => golden.Engine!.Plan(Spec("tc", "ln2_sae")));
        Assert.Equal("autoencoders[1]", error.Field);
        Assert.Contains("ln_2.normalized", error.Message);
        error = Assert.Throws<ReconstitutionException>(() => golden.Engine!.Plan(Spec("res_mid") with
        {
            Loss = null,
            Trace = new AttributionTraceSpec(NodeType.AutoencoderLatent, 0, [2, 3]),
        }));
        Assert.Equal("trace.nodeType", error.Field);
    }
}
