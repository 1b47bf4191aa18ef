using ReconService.Engine.Hooks;
using ReconService.Engine.Loading;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ReconService.Engine.Model;

/// <summary>
/// A GPT-2-family transformer with TDB's exact semantics (see <c>reference-semantics.md</c>): learned token and
/// position embeddings, pre-norm blocks, final layer norm, bias-free unembedding. Module names match TDB's
/// checkpoint keys. Weights are frozen (never require grad) and never changed by a request.
/// </summary>
public sealed class Transformer : nn.Module
{
#pragma warning disable IDE1006 // fields are named after checkpoint keys
    private readonly Parameter tok_embed_weight, pos_embed_weight;
    private readonly ModuleList<TransformerLayer> xf_layers;
    private readonly Norm final_ln;
    private readonly Affine unembed;
#pragma warning restore IDE1006

    /// <summary>Builds the model over a checkpoint's tensors (which it then owns).</summary>
    public Transformer(GptCheckpoint checkpoint) : base("transformer")
    {
        var p = checkpoint.Parameters;
        Config = checkpoint.Config;
        tok_embed_weight = new Parameter(p["tok_embed.weight"], requires_grad: false);
        pos_embed_weight = new Parameter(p["pos_embed.weight"], requires_grad: false);
        xf_layers = new ModuleList<TransformerLayer>(
            Enumerable.Range(0, Config.NLayers).Select(i => new TransformerLayer(p, i, Config)).ToArray());
        final_ln = new Norm("final_ln", p["final_ln.weight"], p["final_ln.bias"], Config.LayerNormEpsilon);
        unembed = new Affine(p, "unembed");
        RegisterComponents();
    }

    /// <summary>Model sizes.</summary>
    public GptConfig Config { get; }

    /// <summary>Layer <paramref name="index"/>, <c>0 &lt;= index &lt; n_layers</c>.</summary>
    public TransformerLayer Layer(int index) => xf_layers[index];

    /// <summary><c>resid.post_emb</c> <c>[batch, tokens, d_model]</c> for int64 <paramref name="tokens"/> <c>[batch, tokens]</c>.</summary>
    public Dual Embed(Tensor tokens, HookTree hooks)
    {
        using var positions = arange(tokens.shape[1], ScalarType.Int64, device: tokens.device);
        var embedded = tok_embed_weight.index_select(0, tokens.flatten()).reshape(tokens.shape[0], tokens.shape[1], -1)
            + pos_embed_weight.index_select(0, positions).unsqueeze(0);
        return hooks.Run("resid.post_emb", embedded, null);
    }

    /// <summary>Logits <c>[batch, tokens, n_vocab]</c> from the final layer's <c>resid.post_mlp</c>.</summary>
    public Dual Unembed(Dual residPostMlp, HookTree hooks) =>
        hooks.Run("logits", unembed.Forward(final_ln.Forward(residPostMlp, hooks, "resid.ln_f", null)), null);

    /// <summary>A whole forward pass: logits <c>[batch, tokens, n_vocab]</c> for int64 tokens <c>[batch, tokens]</c>.</summary>
    public Dual Forward(Tensor tokens, HookTree hooks)
    {
        var resid = Embed(tokens, hooks);
        foreach (var layer in xf_layers) resid = layer.Forward(resid, hooks);
        return Unembed(resid, hooks);
    }
}
