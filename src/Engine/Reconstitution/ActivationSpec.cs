using ReconService.Models;

namespace ReconService.Engine.Reconstitution;

/// <summary>
/// Which activation to reconstitute from a residual stream: the arguments of TDB's
/// <c>make_reconstituted_activation_fn</c> plus the layer and pass type of the call.
/// </summary>
/// <param name="NodeType">Node whose activation is recomputed.</param>
/// <param name="LayerIndex">Layer of the node, <c>0 &lt;= layerIndex &lt; n_layers</c>.</param>
/// <param name="PreOrPostAct">Before or after the node's nonlinearity.</param>
/// <param name="AttentionTraceType">Required for <see cref="NodeType.AttentionHead"/>, rejected otherwise.</param>
/// <param name="DetachLayerNormScale">Treat layer-norm scales as constants in derivatives.</param>
/// <param name="Autoencoder">For latent nodes: the configured autoencoder family; may be null when exactly one fits.</param>
/// <param name="LatentSlice">For latent nodes: only these latents are returned.</param>
/// <param name="PassType">Only <see cref="PassType.Forward"/> is defined.</param>
public sealed record ActivationSpec(
    NodeType NodeType,
    int LayerIndex,
    PreOrPostAct PreOrPostAct,
    AttentionTraceType? AttentionTraceType = null,
    bool DetachLayerNormScale = true,
    string? Autoencoder = null,
    LatentSlice? LatentSlice = null,
    PassType PassType = PassType.Forward);
