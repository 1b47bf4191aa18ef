using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Errors;
using ReconService.Api.Hosting;
using ReconService.Api.Limits;
using ReconService.Api.Logging;
using ReconService.Api.OpenApi;
using ReconService.Api.Reconstitution;
using ReconService.Api.Tensors;
using ReconService.Api.Tokenization;
using ReconService.Engine;
using ReconService.Engine.Hooks;
using ReconService.Engine.Operations;
using ReconService.Models.Wire;
using Serilog;
using TorchSharp;

namespace ReconService.Api.Forward;

/// <summary>Forward passes over real text, capturing activations to feed the reconstitution endpoints.</summary>
public static class ForwardEndpoints
{
    /// <summary>Maps <c>POST /v1/forward</c>.</summary>
    public static RouteGroupBuilder MapForward(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Forward").RequireEngine().WithStandardProblems().WithTensorRelease();
        group.MapPost("/forward", Forward).WithName("forward").WithExample(ExampleKind.Forward)
            .WithSummary("Forward pass from a prompt or tokens, capturing activations")
            .WithDescription("Tokenizes prompt (or takes tokens), runs the model, and returns the tokens, their text, the top next-token " +
                             "predictions at every position, and each captured location (" + string.Join(", ", ActivationLocations.All) + ") per layer.");
        return group;
    }

    /// <summary>POST /v1/forward.</summary>
    public static Results<Ok<ForwardResponse>, ProblemHttpResult> Forward(ForwardRequest request, EngineHost host, GptTokenizer tokenizer,
        IOptions<LimitsOptions> limits, IOptions<TokenLimitsOptions> tokenLimits, IDiagnosticContext log) =>
        EngineCall.Run(() =>
        {
            var engine = host.Engine;
            var tokens = Tokens(request, engine, tokenizer, limits.Value);
            var capture = Capture(request, engine);
            var layers = Layers(request, engine);
            // Now that a prompt's token count is known; a tokens array was already checked before the queue.
            if (RequestLimits.TooLarge(RequestLimits.ForwardElements(tokens.Length, request, engine), tokenLimits.Value) is var (field, message))
                throw new RequestFieldException(field, message, StatusCodes.Status422UnprocessableEntity);
            log.Set(RequestFields.Tokens, tokens.Length);

            var output = engine.Execute(new ForwardOperation(tokens, request.Prompt is null ? "tokens" : "prompt", capture, layers, request.TopK));
            var captured = output.Tensors.Select(t => t.Name.Split('/')).Zip(output.Tensors, (parts, t) =>
                new CapturedTensor(parts[1], parts[2] == "none" ? null : int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture),
                    TensorCodec.Encode(t.Tensor, request.OutputEncoding))).ToArray();
            var strings = tokenizer.TokenStrings(output.TopPredictions.SelectMany(p => p.Select(t => t.Token)));
            var index = 0;
            var top = output.TopPredictions.Select(p => p.Select(t => new TokenPrediction(t.Token, strings[index++], t.Logprob)).ToArray()).ToArray();
            return new ForwardResponse(tokens, tokenizer.TokenStrings(tokens), top, captured);
        });

    private static int[] Tokens(ForwardRequest request, IReconstitutionEngine engine, GptTokenizer tokenizer, LimitsOptions limits)
    {
        if ((request.Prompt is null) == (request.Tokens is null))
            throw new RequestFieldException("prompt", "give exactly one of prompt (text) and tokens (ids)");
        string field;
        int[] tokens;
        if (request.Prompt is { } prompt)
        {
            if (prompt.Length > limits.MaxPromptChars)
                throw new RequestFieldException("prompt", $"expected at most {limits.MaxPromptChars} characters, got {prompt.Length}", StatusCodes.Status422UnprocessableEntity);
            tokens = tokenizer.Encode(prompt);
            field = "prompt";
        }
        else
        {
            tokens = request.Tokens!;
            field = "tokens";
        }
        var config = engine.Config;
        if (tokens.Length == 0 || tokens.Length > config.NCtx)
            throw new RequestFieldException(field, $"expected 1 to {config.NCtx} tokens (the context window), got {tokens.Length}", StatusCodes.Status422UnprocessableEntity);
        var bad = Array.FindIndex(tokens, t => t < 0 || t >= config.NVocab);
        if (bad >= 0)
            throw new RequestFieldException(field, $"token {bad} is {tokens[bad]}, expected 0 <= id < {config.NVocab}", StatusCodes.Status422UnprocessableEntity);
        return tokens;
    }

    private static string[] Capture(ForwardRequest request, IReconstitutionEngine engine)
    {
        var requested = request.Capture ?? [];
        foreach (var location in requested)
            if (!ActivationLocations.All.Contains(location))
                throw new RequestFieldException("capture", $"unknown location '{(location.Length > 40 ? location[..40] : location)}'; expected any of {string.Join(", ", ActivationLocations.All)}",
                    StatusCodes.Status422UnprocessableEntity);
        return requested.Distinct().ToArray();
    }

    private static int[]? Layers(ForwardRequest request, IReconstitutionEngine engine)
    {
        if (request.Layers is null) return null;
        var n = engine.Config.NLayers;
        foreach (var layer in request.Layers)
            if (layer < 0 || layer >= n)
                throw new RequestFieldException("layers", $"expected layers in 0..{n - 1}, got {layer}", StatusCodes.Status422UnprocessableEntity);
        return request.Layers.Distinct().Order().ToArray();
    }
}
