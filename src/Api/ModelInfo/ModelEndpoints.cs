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
            .WithDescription("dModel, nLayers, nHeads, dHead, dFf, nCtx, nVocab; the device and dtype; and each autoencoder family with its input type, node type, layers, nLatents and activation.")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    /// <summary>GET /v1/model.</summary>
    public static Ok<ModelInfoResponse> Get(EngineHost host)
    {
        var engine = host.Engine;
        var c = engine.Config;
        var autoencoders = engine.Autoencoders.Values.OrderBy(a => a.Name, StringComparer.Ordinal)
            .Select(a => new AutoencoderInfoResponse(a.Name, a.InputType, a.NodeType, a.Layers.ToArray(), a.NLatents, a.NInputs, a.Activation, a.K))
            .ToArray();
        return TypedResults.Ok(new ModelInfoResponse(new ModelConfigInfo(c.DModel, c.NLayers, c.NHeads, c.DHead, c.DFf, c.NCtx, c.NVocab),
            engine.Device, "float32", autoencoders));
    }
}
