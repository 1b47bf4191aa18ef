using ReconService.Api.OpenApi;
using ReconService.Api.Pipeline;
using ReconService.Engine.Operations;
using ReconService.Models.Wire;

namespace ReconService.Api.Autoencoders;

/// <summary>Direct use of a configured autoencoder: encoding raw activations, and a latent's gradient.</summary>
public static class AutoencoderEndpoints
{
    /// <summary>Maps <c>/v1/autoencoders/{name}/encode</c> and <c>/v1/autoencoders/{name}/latent-gradient</c>.</summary>
    public static RouteGroupBuilder MapAutoencoders(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/autoencoders/{name}").WithTags("Autoencoders");
        group.MapOperation<EncodeRequest, TensorResult, EncodeResponse>("/encode",
                (r, http) => new EncodeOperation(http.Route("name"), r.Activations.Input("activations"), r.LayerIndex), (t, a) => new(a.Tensor(t.Output)))
            .WithName("encode").WithExample(ExampleKind.Encode)
            .WithSummary("Latents of an autoencoder")
            .WithDescription("Encodes raw activations of the autoencoder's input type (e.g. mlp.post_act [tokens, d_ff]) at a layer into latents [tokens, n_latents].");
        group.MapOperation<LatentGradientRequest, TensorResult, GradientResponse>("/latent-gradient",
                (r, http) => new LatentGradientOperation(http.Route("name"), r.Activations.Input("activations"), r.LayerIndex, r.LatentIndex),
                (t, a) => new(a.Tensor(t.Output)))
            .WithName("latentGradient").WithExample(ExampleKind.LatentGradient)
            .WithSummary("Gradient of a latent with respect to the autoencoder's input")
            .WithDescription("d(sum over tokens of latent latentIndex) / d activations, shaped like activations.");
        return group;
    }
}
