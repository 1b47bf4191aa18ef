using ReconService.Engine.Autoencoders;
using ReconService.Engine.Hooks;
using ReconService.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>
/// An independent, deliberately plain computation of what attribution should give, for tests: the unhooked model's
/// forward with autograd, gradients of the loss at every location by <c>autograd.grad</c>, and each derived scalar by
/// its textbook formula (heads' write vectors materialised per token pair, autoencoders applied densely).
/// Without ablations spliced autoencoders leave values (and gradients) unchanged, so one plain pass serves every family.
/// </summary>
internal sealed class DirectReference
{
    private readonly Transformer _model;
    private readonly Dictionary<string, Tensor> _parameters;

    public DirectReference(Transformer model, int[] tokens, Func<Tensor, Tensor> loss, int? zeroLayer = null,
        Func<string, Tensor, Tensor>? edit = null, bool gradients = true)
    {
        _model = model;
        _parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        using var _ = gradients ? enable_grad() : no_grad();
        var hooks = new HookTree();
        foreach (var location in new[] { "resid.torso.attn.qk_probs", "resid.torso.attn.v", "resid.torso.mlp.pre_act", "resid.torso.mlp.post_act", "resid.torso.delta_mlp", "resid.torso.delta_attn" })
            hooks.Append(location + ".fwd", (x, c) =>
            {
                var value = edit is null ? x.Value : edit($"{location}.{c.Layer}", x.Value);
                Activations[$"{location}.{c.Layer}"] = value;
                return value;
            });
        hooks.Append("resid.ln_f.scale.fwd", StandardHooks.Detach);
        var embedding = model.Embed(tensor(tokens.Select(t => (long)t).ToArray()).unsqueeze(0), new HookTree()).Value.detach();
        if (edit is not null) embedding = edit("embedding", embedding);
        Embedding = gradients ? embedding.requires_grad_(true) : embedding;
        Tensor resid = Embedding;
        for (var l = 0; l < model.Config.NLayers; l++) resid = model.Layer(l).Forward(resid, hooks).Value;
        Final = resid;
        Logits = model.Unembed(resid, hooks).Value;
        Loss = loss(Logits[0]);
        if (!gradients) return;
        var names = Activations.Keys.ToList();
        var grads = autograd.grad([Loss], [Embedding, Final, .. names.Select(n => Activations[n])], allow_unused: true);
        EmbeddingGradient = grads[0];
        FinalGradient = grads[1];
        for (var i = 0; i < names.Count; i++) Gradients[names[i]] = grads[i + 2] is { IsInvalid: false } g ? g : zeros_like(Activations[names[i]]);
    }

    public Dictionary<string, Tensor> Activations { get; } = [];
    public Dictionary<string, Tensor> Gradients { get; } = [];
    public Tensor Embedding { get; }
    public Tensor EmbeddingGradient { get; } = null!;
    public Tensor Final { get; }
    public Tensor FinalGradient { get; } = null!;
    public Tensor Logits { get; }
    public Tensor Loss { get; }

    private Tensor G => FinalGradient[0]; // [T, d_model]
    private Tensor A(string name) => Activations[name][0].detach();
    private Tensor Grad(string name) => Gradients[name][0];

    /// <summary>TDB's four scalars of the token embedding, each <c>[T, 1]</c>.</summary>
    public Tensor[] EmbeddingScalars()
    {
        var e = Embedding[0].detach();
        return [ones(e.shape[0], 1), (e * EmbeddingGradient[0]).sum(-1, keepdim: true), e.norm(-1, keepdim: true), (e * G).sum(-1, keepdim: true)];
    }

    /// <summary>Neurons of <paramref name="layer"/>: activation, act × grad, write norm, direction write, each <c>[T, d_ff]</c>.</summary>
    public Tensor[] NeuronScalars(int layer)
    {
        var a = A($"resid.torso.mlp.post_act.{layer}");
        var wOut = _parameters[$"xf_layers.{layer}.mlp.out_layer.weight"]; // [d_model, d_ff]
        var writes = a.unsqueeze(-1) * wOut.t(); // [T, d_ff, d_model]
        return [a, a * Grad($"resid.torso.mlp.post_act.{layer}"), a * wOut.norm(0), (writes * G.unsqueeze(1)).sum(-1)];
    }

    /// <summary>Heads of <paramref name="layer"/>, each <c>[q, k, heads]</c>, from write vectors built per token pair.</summary>
    public Tensor[] HeadScalars(int layer)
    {
        var config = _model.Config;
        var p = A($"resid.torso.attn.qk_probs.{layer}"); // [q, k, h]
        var v = A($"resid.torso.attn.v.{layer}"); // [k, h, d_head]
        var wO = _parameters[$"xf_layers.{layer}.attn.out_proj.weight"].view(config.DModel, config.NHeads, config.DHead);
        var writes = einsum("qkh,khe,dhe->qkhd", p, v, wO); // [q, k, h, d_model]
        return [p, p * Grad($"resid.torso.attn.qk_probs.{layer}"), writes.norm(-1), einsum("qkhd,qd->qkh", writes, G)];
    }

    /// <summary>A spliced family's latents at <paramref name="layer"/>, each <c>[T, n_latents]</c>.</summary>
    public Tensor[] LatentScalars(AutoencoderSet set, int layer)
    {
        var (x, gradient, throughOut) = Input(set, layer);
        var ae = set.Layers[layer];
        var z = ae.Encode(x).Value;
        var write = throughOut ? _parameters[$"xf_layers.{layer}.mlp.out_layer.weight"].matmul(ae.DecoderWeight) : ae.DecoderWeight; // [d_model, n_latents]
        return [z, z * gradient.matmul(ae.DecoderWeight), z * write.norm(0), z * G.matmul(write)];
    }

    /// <summary>A spliced family's error at <paramref name="layer"/>: per neuron on <c>mlp.post_act</c>, else per token <c>[T, 1]</c>.</summary>
    public Tensor[] ErrorScalars(AutoencoderSet set, int layer)
    {
        var (x, gradient, throughOut) = Input(set, layer);
        var ae = set.Layers[layer];
        var error = x - (ae.Encode(x).Value.matmul(ae.DecoderWeight.t()) + ae.PreBias);
        if (!throughOut)
            return [error.norm(-1, keepdim: true), (error * gradient).sum(-1, keepdim: true), error.norm(-1, keepdim: true), (error * G).sum(-1, keepdim: true)];
        var wOut = _parameters[$"xf_layers.{layer}.mlp.out_layer.weight"];
        return [error, error * gradient, error * wOut.norm(0), error * G.matmul(wOut)];
    }

    private (Tensor X, Tensor Gradient, bool ThroughOut) Input(AutoencoderSet set, int layer)
    {
        var location = set.InputType switch
        {
            Models.AutoencoderInputType.MlpPostAct => "resid.torso.mlp.post_act",
            Models.AutoencoderInputType.ResidDeltaMlp => "resid.torso.delta_mlp",
            _ => "resid.torso.delta_attn",
        };
        return (A($"{location}.{layer}"), Grad($"{location}.{layer}"), set.InputType == Models.AutoencoderInputType.MlpPostAct);
    }
}
