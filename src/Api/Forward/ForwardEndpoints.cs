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
using ReconService.Models.Wire;
using Serilog;
using TorchSharp;

namespace ReconService.Api.Forward;

/// <summary>Forward passes over real text, capturing activations to feed the reconstitution endpoints.</summary>
public static class ForwardEndpoints
{
    private const int MaxTopK = 50;

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
            if (request.TopK is < 0 or > MaxTopK)
                throw new RequestFieldException("topK", $"expected 0 to {MaxTopK}, got {request.TopK}", StatusCodes.Status422UnprocessableEntity);
            // Now that a prompt's token count is known; a tokens array was already checked before the queue.
            if (RequestLimits.TooLarge(RequestLimits.ForwardElements(tokens.Length, request, engine), tokenLimits.Value) is var (field, message))
                throw new RequestFieldException(field, message, StatusCodes.Status422UnprocessableEntity);
            log.Set(RequestFields.Tokens, tokens.Length);

            var input = torch.tensor(tokens.Select(t => (long)t).ToArray(), torch.int64);
            using var result = engine.Forward(input, capture, layers);
            var captured = new List<CapturedTensor>();
            foreach (var location in capture)
            {
                if (!result.Captured.TryGetValue(location, out var byLayer)) continue;
                foreach (var (layer, tensor) in byLayer.OrderBy(kv => kv.Key))
                    captured.Add(new CapturedTensor(location, layer < 0 ? null : layer, TensorCodec.Encode(tensor, request.OutputEncoding)));
            }
            return new ForwardResponse(tokens, tokenizer.TokenStrings(tokens), tokenizer.TokenBytesBase64(tokens),
                TopPredictions(result.Logits, request.TopK, tokenizer), captured.ToArray(), request.AllowSpecial, request.PrependBos);
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
            tokens = tokenizer.Encode(prompt, request.AllowSpecial, request.PrependBos);
            field = "prompt";
        }
        else
        {
            if (request.AllowSpecial)
                throw new RequestFieldException("allowSpecial", "applies to prompt text only; tokens are ids already");
            tokens = request.PrependBos ? [GptTokenizer.EndOfText, .. request.Tokens!] : request.Tokens!;
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

    private static TokenPrediction[][] TopPredictions(torch.Tensor logits, int k, GptTokenizer tokenizer)
    {
        if (k == 0) return [];
        var logprobs = torch.nn.functional.log_softmax(logits.detach().to(torch.float32).cpu(), -1);
        if (logprobs.dim() == 3) logprobs = logprobs[0];
        var (values, indices) = torch.topk(logprobs, Math.Min(k, (int)logprobs.shape[^1]), dim: -1);
        var v = values.data<float>().ToArray();
        var ix = indices.data<long>().ToArray();
        var positions = (int)values.shape[0];
        var width = (int)values.shape[1];
        var strings = ix.Select(i => tokenizer.TokenString((int)i)).ToArray();
        var result = new TokenPrediction[positions][];
        for (var p = 0; p < positions; p++)
        {
            result[p] = new TokenPrediction[width];
            for (var j = 0; j < width; j++)
                result[p][j] = new TokenPrediction((int)ix[p * width + j], strings[p * width + j], v[p * width + j]);
        }
        return result;
    }
}
