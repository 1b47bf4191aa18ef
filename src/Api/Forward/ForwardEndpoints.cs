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
            .WithDescription("Tokenizes prompt (or takes tokens), runs the model, and returns the tokens, their text and bytes, the top next-token " +
                             "predictions at every position, and each captured location (" + string.Join(", ", ActivationLocations.All) + ") per layer. " +
                             "<|endoftext|> in a prompt is ordinary text unless allowSpecial; prependBos puts 50256 first (before given tokens too).");
        return group;
    }

    /// <summary>The forward operation of a request; a prompt is tokenized here, before the request queues for the engine.</summary>
    private static async ValueTask<IEngineOperation<ForwardOutput>> Operation(ForwardRequest request, HttpContext http)
    {
        if ((request.Prompt is null) == (request.Tokens is null))
            throw new ProblemException(StatusCodes.Status400BadRequest, "prompt", "give exactly one of prompt (text) and tokens (ids)");
        int[] tokens;
        if (request.Prompt is { } prompt)
            tokens = await http.RequestServices.GetRequiredService<PromptTokenizer>()
                .EncodeAsync(prompt, "prompt", request.AllowSpecial, request.PrependBos, http.RequestAborted);
        else if (request.AllowSpecial)
            throw new ProblemException(StatusCodes.Status400BadRequest, "allowSpecial", "applies to prompt text only; tokens are ids already");
        else
            tokens = request.PrependBos ? [GptTokenizer.EndOfText, .. request.Tokens!] : request.Tokens!;
        return new ForwardOperation(tokens, request.Prompt is null ? "tokens" : "prompt", request.Capture ?? [], request.Layers, request.TopK);
    }

    private static ForwardResponse Response(ForwardOutput output, Answer answer)
    {
        var request = (ForwardRequest)answer.Request;
        var tokenizer = answer.Service<PromptTokenizer>();
        var captured = output.Tensors.Select(t =>
        {
            var (location, layer) = ForwardOperation.ParseOutputName(t.Name);
            return new CapturedTensor(location, layer, answer.Tensor(t));
        }).ToArray();
        var top = output.TopPredictions.Select(p => p.Select(t => new TokenPrediction(t.Token, tokenizer.TokenString(t.Token), t.Logprob)).ToArray()).ToArray();
        return new ForwardResponse(output.Tokens, tokenizer.TokenStrings(output.Tokens), tokenizer.TokenBytesBase64(output.Tokens), top, captured,
            request.AllowSpecial, request.PrependBos);
    }
}
