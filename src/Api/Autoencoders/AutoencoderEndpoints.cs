using Microsoft.AspNetCore.Http.HttpResults;
using ReconService.Api.Caching;
using ReconService.Api.Errors;
using ReconService.Api.Hosting;
using ReconService.Api.Logging;
using ReconService.Api.OpenApi;
using ReconService.Api.Reconstitution;
using ReconService.Api.Tensors;
using ReconService.Engine;
using ReconService.Models.Wire;
using Serilog;

namespace ReconService.Api.Autoencoders;

/// <summary>Direct use of a configured autoencoder: encoding raw activations, and a latent's gradient.</summary>
public static class AutoencoderEndpoints
{
    /// <summary>Maps <c>/v1/autoencoders/{name}/encode</c> and <c>/v1/autoencoders/{name}/latent-gradient</c>.</summary>
    public static RouteGroupBuilder MapAutoencoders(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/autoencoders/{name}").WithTags("Autoencoders").RequireEngine().WithResponseCache().WithStandardProblems().WithTensorRelease();
        group.MapPost("/encode", Encode).WithName("encode").WithExample(ExampleKind.Encode)
            .WithSummary("Latents of an autoencoder")
            .WithDescription("Encodes raw activations of the autoencoder's input type (e.g. mlp.post_act [tokens, d_ff]) at a layer into latents [tokens, n_latents].");
        group.MapPost("/latent-gradient", LatentGradient).WithName("latentGradient").WithExample(ExampleKind.LatentGradient)
            .WithSummary("Gradient of a latent with respect to the autoencoder's input")
            .WithDescription("d(sum over tokens of latent latentIndex) / d activations, shaped like activations.");
        return group;
    }

    /// <summary>POST /v1/autoencoders/{name}/encode.</summary>
    public static Results<Ok<EncodeResponse>, ProblemHttpResult> Encode(string name, EncodeRequest request, EngineHost host, IDiagnosticContext log) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var activations = ReadActivations(name, request, engine, log);
            using var latents = engine.Encode(name, activations, request.LayerIndex);
            return new EncodeResponse(TensorCodec.Encode(latents, request.OutputEncoding));
        });

    /// <summary>POST /v1/autoencoders/{name}/latent-gradient.</summary>
    public static Results<Ok<GradientResponse>, ProblemHttpResult> LatentGradient(string name, LatentGradientRequest request, EngineHost host, IDiagnosticContext log) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var activations = ReadActivations(name, request, engine, log);
            using var gradient = engine.LatentGradient(name, activations, request.LayerIndex, request.LatentIndex);
            return new GradientResponse(TensorCodec.Encode(gradient, request.OutputEncoding));
        });

    private static TorchSharp.torch.Tensor ReadActivations(string name, EncodeRequest request, Engine.IReconstitutionEngine engine, IDiagnosticContext log)
    {
        if (!engine.Autoencoders.TryGetValue(name, out var info))
            throw new RequestFieldException("name", $"no autoencoder named '{Shorten(name)}'; configured: {string.Join(", ", engine.Autoencoders.Keys)}",
                StatusCodes.Status422UnprocessableEntity);
        var activations = TensorCodec.Decode(request.Activations, "activations");
        TensorShapes.RequireRows(activations, info.NInputs, "activations");
        log.Set(RequestFields.Autoencoder, info.Name);
        log.Set(RequestFields.Layer, request.LayerIndex);
        log.Set(RequestFields.Tokens, activations.shape[^2]);
        return activations;
    }

    private static string Shorten(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
