namespace ReconService.Api.OpenApi;

/// <summary>Which request example an endpoint shows in the OpenAPI document.</summary>
public enum ExampleKind
{
    Activations, Gradients, Jvp, ResidDeltaAttn, ResidDeltaMlp, AttentionValues, Logits, Logprobs, Encode, LatentGradient, Forward, Tokenize, Attribution,
}

/// <summary>Endpoint metadata naming the endpoint's example.</summary>
public sealed record ExampleMetadata(ExampleKind Kind);

/// <summary>Attaches examples to endpoints.</summary>
public static class ExampleEndpointExtensions
{
    /// <summary>Shows the request example of <paramref name="kind"/> in the OpenAPI document.</summary>
    public static RouteHandlerBuilder WithExample(this RouteHandlerBuilder builder, ExampleKind kind) =>
        builder.WithMetadata(new ExampleMetadata(kind));
}
