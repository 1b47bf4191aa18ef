using ReconService.Api.OpenApi;
using ReconService.Api.Pipeline;
using ReconService.Engine.Operations;
using ReconService.Engine.Reconstitution;
using ReconService.Models.Wire;

namespace ReconService.Api.Reconstitution;

/// <summary>Reconstitution from a residual stream: activations, gradients, JVPs, block outputs, attention, logits.</summary>
public static class ReconstitutionEndpoints
{
    /// <summary>Maps <c>/v1/activations</c>, <c>/v1/gradients</c>, <c>/v1/jvp</c>, <c>/v1/resid-deltas/*</c>, <c>/v1/attention-values</c>, <c>/v1/logits</c>, <c>/v1/logprobs</c>.</summary>
    public static RouteGroupBuilder MapReconstitution(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Reconstitution");

        group.MapOperation<ActivationsRequest, TensorResult, ActivationsResponse>("/activations",
                (r, _) => new ActivationsOperation(r.Residual.Input("residual"), Spec(r)), (t, a) => new(a.Tensor(t.Output)))
            .WithName("activations").WithExample(ExampleKind.Activations)
            .WithSummary("Activations of a node type recomputed from the residual stream")
            .WithDescription("TDB's reconstituted activation: attention qk logits/probs [q, k, heads] from the residual before the layer, " +
                             "MLP pre/post activations [tokens, d_ff] from resid.post_attn, or autoencoder latents [tokens, n_latents].");
        group.MapOperation<GradientsRequest, TensorResult, GradientResponse>("/gradients",
                (r, _) => new GradientOperation(r.Residual.Input("residual"), Spec(r), r.TensorIndices), (t, a) => new(a.Tensor(t.Output)))
            .WithName("gradients").WithExample(ExampleKind.Gradients)
            .WithSummary("Gradient of one activation scalar with respect to the residual")
            .WithDescription("d activation[tensorIndices] / d residual, shaped like the residual. tensorIndices has one entry per activation axis.");
        group.MapOperation<JvpRequest, TensorResult, JvpResponse>("/jvp",
                (r, _) => new JvpOperation(r.Residual.Input("residual"), Spec(r), r.WriteVector.Input("writeVector")), (t, a) => new(a.Tensor(t.Output)))
            .WithName("jvp").WithExample(ExampleKind.Jvp)
            .WithSummary("Jacobian-vector product of the activation with a write vector")
            .WithDescription("J · writeVector, shaped like the activations (0 where the activation is -inf).");
        group.MapOperation<ResidDeltaRequest, TensorResult, ResidDeltaResponse>("/resid-deltas/attn",
                (r, _) => new ResidDeltaAttnOperation(r.Residual.Input("residual"), r.LayerIndex, r.DetachLayerNormScale), (t, a) => new(a.Tensor(t.Output)))
            .WithName("residDeltaAttn").WithExample(ExampleKind.ResidDeltaAttn)
            .WithSummary("Attention block output (resid.delta_attn)")
            .WithDescription("The attention block's contribution [tokens, d_model] from the residual before layer layerIndex.");
        group.MapOperation<ResidDeltaRequest, TensorResult, ResidDeltaResponse>("/resid-deltas/mlp",
                (r, _) => new ResidDeltaMlpOperation(r.Residual.Input("residual"), r.LayerIndex, r.DetachLayerNormScale), (t, a) => new(a.Tensor(t.Output)))
            .WithName("residDeltaMlp").WithExample(ExampleKind.ResidDeltaMlp)
            .WithSummary("MLP block output (resid.delta_mlp)")
            .WithDescription("The MLP block's contribution [tokens, d_model] from resid.post_attn of layer layerIndex.");
        group.MapOperation<AttentionValuesRequest, AttentionValuesResult, AttentionValuesResponse>("/attention-values",
                (r, _) => new AttentionValuesOperation(r.Residual.Input("residual"), r.LayerIndex, r.DetachLayerNormScale, r.AttentionTraceType),
                (v, a) => new(a.Tensor(v.Attention), a.Tensor(v.Values)))
            .WithName("attentionValues").WithExample(ExampleKind.AttentionValues)
            .WithSummary("Attention probabilities and values of a layer")
            .WithDescription("attention [q, k, heads] and values V [tokens, heads, d_head] from the residual before layer layerIndex.");
        group.MapOperation<LogitsRequest, TensorResult, LogitsResponse>("/logits",
                (r, _) => new LogitsOperation(r.Residual.Input("residual"), r.DetachLayerNormScale), (t, a) => new(a.Tensor(t.Output)))
            .WithName("logits").WithExample(ExampleKind.Logits)
            .WithSummary("Logits from the final residual")
            .WithDescription("Final layer norm and unembedding of the last layer's resid.post_mlp: [tokens, n_vocab].");
        group.MapOperation<LogitsRequest, TensorResult, LogprobsResponse>("/logprobs",
                (r, _) => new LogprobsOperation(r.Residual.Input("residual"), r.DetachLayerNormScale), (t, a) => new(a.Tensor(t.Output)))
            .WithName("logprobs").WithExample(ExampleKind.Logprobs)
            .WithSummary("Log-probabilities from the final residual")
            .WithDescription("log_softmax of the logits over the vocabulary: [tokens, n_vocab].");
        return group;
    }

    private static ActivationSpec Spec(ActivationsRequest r) =>
        new(r.NodeType, r.LayerIndex, r.PreOrPostAct, r.AttentionTraceType, r.DetachLayerNormScale, r.Autoencoder, r.LatentSlice, r.PassType);
}
