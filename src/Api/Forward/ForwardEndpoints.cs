using ReconService.Api.Errors;
using ReconService.Api.OpenApi;
using ReconService.Api.Pipeline;
using ReconService.Api.Tokenization;
using ReconService.Engine.Hooks;
using ReconService.Engine.Operations;
using ReconService.Models.Wire;

namespace ReconService.Api.Forward;

/// <summary>Forward passes over real text, capturing activations to feed the reconstitution endpoints.</summary>
public static class ForwardEndpoints
{
    /// <summary>Maps <c>POST /v1/forward</c>.</summary>
    public static RouteGroupBuilder MapForward(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Forward");
        group.MapOperation<ForwardRequest, ForwardOutput, ForwardResponse>("/forward", Operation, Response)
            .WithName("forward").WithExample(ExampleKind.Forward)
            .WithSummary("Forward pass from a prompt or tokens, capturing activations")
            .WithDescription("Tokenizes prompt (or takes tokens), runs the model, and returns the tokens, their text, the top next-token " +
                             "predictions at every position, and each captured location (" + string.Join(", ", ActivationLocations.All) + ") per layer.");
        return group;
    }

    /// <summary>The forward operation of a request; a prompt is tokenized here, before the request queues for the engine.</summary>
    private static async ValueTask<IEngineOperation<ForwardOutput>> Operation(ForwardRequest request, HttpContext http)
    {
        if ((request.Prompt is null) == (request.Tokens is null))
            throw new ProblemException(StatusCodes.Status400BadRequest, "prompt", "give exactly one of prompt (text) and tokens (ids)");
        var tokens = request.Tokens ?? await http.RequestServices.GetRequiredService<PromptTokenizer>()
            .EncodeAsync(request.Prompt!, "prompt", http.RequestAborted);
        return new ForwardOperation(tokens, request.Prompt is null ? "tokens" : "prompt", request.Capture ?? [], request.Layers, request.TopK);
    }

    private static ForwardResponse Response(ForwardOutput output, Answer answer)
    {
        var tokenizer = answer.Service<PromptTokenizer>();
        var captured = output.Tensors.Select(t =>
        {
            var (location, layer) = ForwardOperation.ParseOutputName(t.Name);
            return new CapturedTensor(location, layer, answer.Tensor(t));
        }).ToArray();
        var strings = tokenizer.TokenStrings(output.TopPredictions.SelectMany(p => p.Select(t => t.Token)));
        var next = 0;
        var top = output.TopPredictions.Select(p => p.Select(t => new TokenPrediction(t.Token, strings[next++], t.Logprob)).ToArray()).ToArray();
        return new ForwardResponse(output.Tokens, tokenizer.TokenStrings(output.Tokens), top, captured);
    }
}
