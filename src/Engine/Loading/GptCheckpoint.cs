using ReconService.Engine.Model;
using TorchSharp;

namespace ReconService.Engine.Loading;

/// <summary>
/// A loaded transformer: its sizes and its parameters under TDB's checkpoint names, float32, on the CPU.
/// </summary>
/// <remarks>
/// Parameter names and shapes (TDB's <c>model_pieces</c> layout; <c>Linear</c> weights are <c>[out, in]</c>):
/// <c>tok_embed.weight [n_vocab, d_model]</c>, <c>pos_embed.weight [n_ctx, d_model]</c>,
/// per layer <c>L</c>: <c>xf_layers.L.ln_1.{weight,bias} [d_model]</c>,
/// <c>xf_layers.L.attn.{q_proj,k_proj,v_proj,out_proj}.weight [d_model, d_model]</c> and <c>.bias [d_model]</c>,
/// <c>xf_layers.L.ln_2.{weight,bias} [d_model]</c>, <c>xf_layers.L.mlp.in_layer.weight [d_ff, d_model]</c>,
/// <c>xf_layers.L.mlp.in_layer.bias [d_ff]</c>, <c>xf_layers.L.mlp.out_layer.weight [d_model, d_ff]</c>,
/// <c>xf_layers.L.mlp.out_layer.bias [d_model]</c>; then <c>final_ln.{weight,bias} [d_model]</c> and
/// <c>unembed.weight [n_vocab, d_model]</c>.
/// </remarks>
/// <param name="Config">Model sizes.</param>
/// <param name="Parameters">Every parameter above, by name. The checkpoint owns them.</param>
public sealed record GptCheckpoint(GptConfig Config, IReadOnlyDictionary<string, torch.Tensor> Parameters) : IDisposable
{
    /// <summary>Disposes every parameter tensor.</summary>
    public void Dispose()
    {
        foreach (var tensor in Parameters.Values) tensor.Dispose();
    }
}
