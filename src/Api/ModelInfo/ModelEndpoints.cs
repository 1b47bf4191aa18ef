using Microsoft.AspNetCore.Http.HttpResults;
using ReconService.Api.Hosting;
using ReconService.Api.OpenApi;
using ReconService.Models.Wire;

namespace ReconService.Api.ModelInfo;

/// <summary>What the service serves.</summary>
public static class ModelEndpoints
{
    /// <summary>Maps <c>GET /v1/model</c>.</summary>
    public static RouteGroupBuilder MapModelInfo(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Model");
        group.MapGet("/model", Get).WithName("model")
            .WithSummary("Model sizes, device and loaded autoencoders")
            .WithDescription("dModel, nLayers, nHeads, dHead, dFf, nCtx, nVocab and the MLP activation function; the device and dtype; and each " +
                             "autoencoder family with its input type, node type, layers, nLatents, activation, k or threshold range, architecture, " +
                             "format, the residual its latent requests send, its input (and for transcoders output) hook, and its preprocessing.")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    private static AutoencoderInfoResponse Describe(Engine.AutoencoderInfo a)
    {
        var basic = new AutoencoderInfoResponse(a.Name, a.InputType, a.NodeType, a.Layers.ToArray(), a.NLatents, a.NInputs, a.Activation, a.K);
        if (a.Details is not { } d) return basic;
        return basic with
        {
            Architecture = d.Architecture, Format = d.Format, Residual = d.Residual, InputHook = d.InputHook, OutputType = d.OutputType,
            OutputHook = d.OutputHook, NOutputs = d.NOutputs,
            Threshold = d.ThresholdMin is { } min && d.ThresholdMax is { } max ? new ThresholdRange(min, max) : null,
            Preprocessing = new AutoencoderPreprocessingInfo(d.CentresInput, d.Normalization, d.SubtractsDecoderBias, d.CentresOutput),
        };
    }

    /// <summary>GET /v1/model.</summary>
    public static Ok<ModelInfoResponse> Get(EngineHost host)
    {
        var engine = host.Engine;
        var c = engine.Config;
        var autoencoders = engine.Autoencoders.Values.OrderBy(a => a.Name, StringComparer.Ordinal).Select(Describe).ToArray();
        var activation = c.Activation == Engine.Model.MlpActivation.GeluErf ? "gelu" : "gelu_new";
        return TypedResults.Ok(new ModelInfoResponse(new ModelConfigInfo(c.DModel, c.NLayers, c.NHeads, c.DHead, c.DFf, c.NCtx, c.NVocab, activation),
            engine.Device, "float32", autoencoders));
    }
}
