using Microsoft.AspNetCore.Http.HttpResults;
using ReconService.Api.Caching;
using ReconService.Api.Hosting;
using ReconService.Api.Logging;
using ReconService.Api.OpenApi;
using ReconService.Api.Tensors;
using ReconService.Engine;
using ReconService.Engine.Reconstitution;
using ReconService.Models.Wire;
using Serilog;

namespace ReconService.Api.Reconstitution;

/// <summary>Reconstitution from a residual stream: activations, gradients, JVPs, block outputs, attention, logits.</summary>
public static class ReconstitutionEndpoints
{
    /// <summary>Maps <c>/v1/activations</c>, <c>/v1/gradients</c>, <c>/v1/jvp</c>, <c>/v1/resid-deltas/*</c>, <c>/v1/attention-values</c>, <c>/v1/logits</c>, <c>/v1/logprobs</c>.</summary>
    public static RouteGroupBuilder MapReconstitution(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Reconstitution").RequireEngine().WithResponseCache().WithStandardProblems().WithTensorRelease();

        group.MapPost("/activations", Activations).WithName("activations").WithExample(ExampleKind.Activations)
            .WithSummary("Activations of a node type recomputed from the residual stream")
            .WithDescription("TDB's reconstituted activation: attention qk logits/probs [q, k, heads] from the residual before the layer, " +
                             "MLP pre/post activations [tokens, d_ff] from resid.post_attn, or autoencoder latents [tokens, n_latents].");
        group.MapPost("/gradients", Gradients).WithName("gradients").WithExample(ExampleKind.Gradients)
            .WithSummary("Gradient of one activation scalar with respect to the residual")
            .WithDescription("d activation[tensorIndices] / d residual, shaped like the residual. tensorIndices has one entry per activation axis.");
        group.MapPost("/jvp", Jvp).WithName("jvp").WithExample(ExampleKind.Jvp)
            .WithSummary("Jacobian-vector product of the activation with a write vector")
            .WithDescription("J · writeVector, shaped like the activations (0 where the activation is -inf).");
        group.MapPost("/resid-deltas/attn", ResidDeltaAttn).WithName("residDeltaAttn").WithExample(ExampleKind.ResidDeltaAttn)
            .WithSummary("Attention block output (resid.delta_attn)")
            .WithDescription("The attention block's contribution [tokens, d_model] from the residual before layer layerIndex.");
        group.MapPost("/resid-deltas/mlp", ResidDeltaMlp).WithName("residDeltaMlp").WithExample(ExampleKind.ResidDeltaMlp)
            .WithSummary("MLP block output (resid.delta_mlp)")
            .WithDescription("The MLP block's contribution [tokens, d_model] from resid.post_attn of layer layerIndex.");
        group.MapPost("/attention-values", AttentionValues).WithName("attentionValues").WithExample(ExampleKind.AttentionValues)
            .WithSummary("Attention probabilities and values of a layer")
            .WithDescription("attention [q, k, heads] and values V [tokens, heads, d_head] from the residual before layer layerIndex.");
        group.MapPost("/logits", Logits).WithName("logits").WithExample(ExampleKind.Logits)
            .WithSummary("Logits from the final residual")
            .WithDescription("Final layer norm and unembedding of the last layer's resid.post_mlp: [tokens, n_vocab].");
        group.MapPost("/logprobs", Logprobs).WithName("logprobs").WithExample(ExampleKind.Logprobs)
            .WithSummary("Log-probabilities from the final residual")
            .WithDescription("log_softmax of the logits over the vocabulary: [tokens, n_vocab].");
        return group;
    }

    /// <summary>POST /v1/activations.</summary>
    public static Results<Ok<ActivationsResponse>, ProblemHttpResult> Activations(ActivationsRequest request, EngineHost host, IDiagnosticContext log) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var residual = ReadResidual(request.Residual, engine.Config, log, request.LayerIndex);
            log.Set(RequestFields.NodeType, request.NodeType);
            using var activations = engine.Activations(residual, Spec(request));
            return new ActivationsResponse(TensorCodec.Encode(activations, request.OutputEncoding));
        });

    /// <summary>POST /v1/gradients.</summary>
    public static Results<Ok<GradientResponse>, ProblemHttpResult> Gradients(GradientsRequest request, EngineHost host, IDiagnosticContext log) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var residual = ReadResidual(request.Residual, engine.Config, log, request.LayerIndex);
            log.Set(RequestFields.NodeType, request.NodeType);
            using var gradient = engine.Gradient(residual, Spec(request), request.TensorIndices);
            return new GradientResponse(TensorCodec.Encode(gradient, request.OutputEncoding));
        });

    /// <summary>POST /v1/jvp.</summary>
    public static Results<Ok<JvpResponse>, ProblemHttpResult> Jvp(JvpRequest request, EngineHost host, IDiagnosticContext log) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var residual = ReadResidual(request.Residual, engine.Config, log, request.LayerIndex);
            var writeVector = TensorCodec.Decode(request.WriteVector, "writeVector"); // the engine checks its shape
            log.Set(RequestFields.NodeType, request.NodeType);
            using var jvp = engine.Jvp(residual, Spec(request), writeVector);
            return new JvpResponse(TensorCodec.Encode(jvp, request.OutputEncoding));
        });

    /// <summary>POST /v1/resid-deltas/attn.</summary>
    public static Results<Ok<ResidDeltaResponse>, ProblemHttpResult> ResidDeltaAttn(ResidDeltaRequest request, EngineHost host, IDiagnosticContext log) =>
        ResidDelta(request, host, log, (engine, residual) => engine.ResidDeltaAttn(residual, request.LayerIndex, request.DetachLayerNormScale));

    /// <summary>POST /v1/resid-deltas/mlp.</summary>
    public static Results<Ok<ResidDeltaResponse>, ProblemHttpResult> ResidDeltaMlp(ResidDeltaRequest request, EngineHost host, IDiagnosticContext log) =>
        ResidDelta(request, host, log, (engine, residual) => engine.ResidDeltaMlp(residual, request.LayerIndex, request.DetachLayerNormScale));

    private static Results<Ok<ResidDeltaResponse>, ProblemHttpResult> ResidDelta(ResidDeltaRequest request, EngineHost host, IDiagnosticContext log,
        Func<Engine.IReconstitutionEngine, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> block) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var residual = ReadResidual(request.Residual, engine.Config, log, request.LayerIndex);
            using var delta = block(engine, residual);
            return new ResidDeltaResponse(TensorCodec.Encode(delta, request.OutputEncoding));
        });

    /// <summary>POST /v1/attention-values.</summary>
    public static Results<Ok<AttentionValuesResponse>, ProblemHttpResult> AttentionValues(AttentionValuesRequest request, EngineHost host, IDiagnosticContext log) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var residual = ReadResidual(request.Residual, engine.Config, log, request.LayerIndex);
            var (attention, values) = engine.AttentionValues(residual, request.LayerIndex, request.DetachLayerNormScale, request.AttentionTraceType);
            using var attentionOwned = attention;
            using var valuesOwned = values;
            return new AttentionValuesResponse(TensorCodec.Encode(attention, request.OutputEncoding), TensorCodec.Encode(values, request.OutputEncoding));
        });

    /// <summary>POST /v1/logits.</summary>
    public static Results<Ok<LogitsResponse>, ProblemHttpResult> Logits(LogitsRequest request, EngineHost host, IDiagnosticContext log) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var residual = ReadResidual(request.Residual, engine.Config, log, layer: null);
            using var logits = engine.Logits(residual, request.DetachLayerNormScale);
            return new LogitsResponse(TensorCodec.Encode(logits, request.OutputEncoding));
        });

    /// <summary>POST /v1/logprobs.</summary>
    public static Results<Ok<LogprobsResponse>, ProblemHttpResult> Logprobs(LogitsRequest request, EngineHost host, IDiagnosticContext log) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var residual = ReadResidual(request.Residual, engine.Config, log, layer: null);
            using var logprobs = engine.Logprobs(residual, request.DetachLayerNormScale);
            return new LogprobsResponse(TensorCodec.Encode(logprobs, request.OutputEncoding));
        });

    private static TorchSharp.torch.Tensor ReadResidual(Models.Tensors.TensorPayload payload, Engine.Model.GptConfig config, IDiagnosticContext log, int? layer)
    {
        var residual = TensorCodec.Decode(payload, "residual");
        TensorShapes.RequireResidual(residual, config, "residual");
        log.Set(RequestFields.Tokens, residual.shape[^2]);
        if (layer is not null) log.Set(RequestFields.Layer, layer);
        return residual;
    }

    private static ActivationSpec Spec(ActivationsRequest r) =>
        new(r.NodeType, r.LayerIndex, r.PreOrPostAct, r.AttentionTraceType, r.DetachLayerNormScale, r.Autoencoder, r.LatentSlice, r.PassType);
}
