using ReconService.Engine.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Model;

/// <summary>
/// One pre-norm GPT-2 block (TDB's <c>TransformerLayer</c>): <c>post_attn = x + attn(ln_1(x))</c>,
/// <c>post_mlp = post_attn + mlp(ln_2(post_attn))</c>, each piece callable on its own for reconstitution.
/// Residual tensors are <c>[batch, tokens, d_model]</c>.
/// </summary>
public sealed class TransformerLayer : nn.Module
{
#pragma warning disable IDE1006 // fields are named after checkpoint keys
    private readonly Norm ln_1, ln_2;
    private readonly Attention attn;
    private readonly Mlp mlp;
#pragma warning restore IDE1006

    /// <summary>Creates layer <paramref name="index"/> from <c>xf_layers.{index}.*</c> tensors.</summary>
    public TransformerLayer(IReadOnlyDictionary<string, Tensor> p, int index, GptConfig config) : base($"xf_layers.{index}")
    {
        var key = $"xf_layers.{index}";
        Index = index;
        ln_1 = new Norm("ln_1", p[key + ".ln_1.weight"], p[key + ".ln_1.bias"], config.LayerNormEpsilon);
        attn = new Attention("attn", p, key + ".attn", config.NHeads);
        ln_2 = new Norm("ln_2", p[key + ".ln_2.weight"], p[key + ".ln_2.bias"], config.LayerNormEpsilon);
        mlp = new Mlp("mlp", p, key + ".mlp", config.Activation);
        RegisterComponents();
    }

    /// <summary>Layer index.</summary>
    public int Index { get; }

    /// <summary>Attention from the residual preceding the block, up to <paramref name="stage"/>.</summary>
    public AttentionResult Attention(Dual resid, HookTree hooks, AttentionStage stage) =>
        attn.Forward(ln_1.Forward(resid, hooks, "resid.torso.ln_attn", Index), hooks, Index, stage);

    /// <summary><c>resid.delta_attn</c> <c>[batch, tokens, d_model]</c> from the residual preceding the block.</summary>
    public Dual DeltaAttn(Dual resid, HookTree hooks) =>
        hooks.Run("resid.torso.delta_attn", Attention(resid, hooks, AttentionStage.Output).Output, Index);

    /// <summary>
    /// The MLP's layer-normalised input before <c>ln_2</c>'s weight and bias, <c>[batch, tokens, d_model]</c>, from
    /// <c>resid.post_attn</c> (TransformerLens <c>blocks.L.ln2.hook_normalized</c>).
    /// </summary>
    public Dual MlpNormalizedInput(Dual residPostAttn, HookTree hooks) => ln_2.Normalize(residPostAttn, hooks, "resid.torso.ln_mlp", Index);

    /// <summary><c>mlp.pre_act</c> <c>[batch, tokens, d_ff]</c> from <c>resid.post_attn</c>.</summary>
    public Dual MlpPreAct(Dual residPostAttn, HookTree hooks) =>
        mlp.PreAct(ln_2.Forward(residPostAttn, hooks, "resid.torso.ln_mlp", Index), hooks, Index);

    /// <summary><c>mlp.post_act</c> <c>[batch, tokens, d_ff]</c> from <c>resid.post_attn</c>.</summary>
    public Dual MlpPostAct(Dual residPostAttn, HookTree hooks) => mlp.PostAct(MlpPreAct(residPostAttn, hooks), hooks, Index);

    /// <summary><c>resid.delta_mlp</c> <c>[batch, tokens, d_model]</c> from <c>resid.post_attn</c>.</summary>
    public Dual DeltaMlp(Dual residPostAttn, HookTree hooks) =>
        hooks.Run("resid.torso.delta_mlp", mlp.Output(MlpPostAct(residPostAttn, hooks)), Index);

    /// <summary>The whole block: <c>resid.post_mlp</c> from the residual preceding it.</summary>
    public Dual Forward(Dual resid, HookTree hooks)
    {
        var postAttn = hooks.Run("resid.torso.post_attn", resid + DeltaAttn(resid, hooks), Index);
        return hooks.Run("resid.torso.post_mlp", postAttn + DeltaMlp(postAttn, hooks), Index);
    }
}
