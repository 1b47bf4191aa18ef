using ReconService.Api.Errors;
using ReconService.Api.OpenApi;
using ReconService.Api.Pipeline;
using ReconService.Api.Tokenization;
using ReconService.Engine.Attribution;
using ReconService.Engine.Operations;
using ReconService.Models.Tensors.Safetensors;
using ReconService.Models.Wire;

namespace ReconService.Api.Attribution;

/// <summary>TDB's node table, ablations and upstream traces in one request (<c>../shared/docs/api.md</c>, "Attribution").</summary>
public static class AttributionEndpoints
{
    /// <summary>Maps <c>POST /v1/attribution</c>.</summary>
    public static RouteGroupBuilder MapAttribution(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Attribution");
        group.MapOperation<AttributionRequest, AttributionOutput, object>("/attribution", Operation,
                (output, answer) => Echo(AttributionWire.ToAnswer(output.Result, (name, tensor) => answer.Tensor(new NamedTensor(name, tensor))),
                    (AttributionRequest)answer.Request))
            .Produces<AttributionResponse>(StatusCodes.Status200OK, "application/json", SafetensorsMediaType.Name)
            .WithName("attribution").WithExample(ExampleKind.Attribution)
            .WithSummary("Which nodes drive a prediction: TDB's node table, ablations and traces")
            .WithDescription("One forward and one backward pass over tokens (or prompt; tokens as a list of lists or prompts for a batch, " +
                             "answered as {results: [...]}), scoring every node (token embeddings, MLP neurons, attention head query-key " +
                             "pairs, latents and error nodes of spliced autoencoders) against a loss (logit_diff, probs, logprob) or a traced " +
                             "node: activation, act_times_grad, write_norm, direction_write; the top and bottom topK per group and node kind, " +
                             "TDB's per-token sums, with dense every derived scalar per layer and the logits; verifyTopN re-runs the forward " +
                             "with each of the top nodes zeroed and reports the exact loss change next to its estimate. " +
                             "<|endoftext|> in a prompt is ordinary text unless allowSpecial; prependBos puts 50256 first in every sequence " +
                             "(before given tokens too), as in /v1/forward.");
        return group;
    }

    /// <summary>The answer with the request's tokenizer flags echoed in every sequence's result.</summary>
    private static object Echo(object answer, AttributionRequest request)
    {
        AttributionResponse With(AttributionResponse r) => r with { AllowSpecial = request.AllowSpecial, PrependBos = request.PrependBos };
        return answer switch
        {
            AttributionResponse one => With(one),
            AttributionBatchResponse batch => new AttributionBatchResponse([.. batch.Results.Select(With)]),
            _ => answer,
        };
    }

    /// <summary>The operation of a request; prompts are tokenized here, before the request queues for the engine.</summary>
    private static async ValueTask<IEngineOperation<AttributionOutput>> Operation(AttributionRequest request, HttpContext http)
    {
        var given = (request.Tokens is null ? 0 : 1) + (request.Prompt is null ? 0 : 1) + (request.Prompts is null ? 0 : 1);
        if (given != 1)
            throw new ProblemException(StatusCodes.Status400BadRequest, request.Prompts is not null ? "prompts" : request.Prompt is not null ? "prompt" : "tokens",
                "give exactly one of tokens (ids, or a list of lists for a batch), prompt (text) and prompts (texts of a batch)");
        var tokenizer = http.RequestServices.GetRequiredService<PromptTokenizer>();
        IReadOnlyList<IReadOnlyList<int>> sequences;
        bool batched;
        string field;
        if (request.Tokens is { } tokens)
        {
            if (request.AllowSpecial)
                throw new ProblemException(StatusCodes.Status400BadRequest, "allowSpecial", "applies to prompt text only; tokens are ids already");
            (sequences, batched, field) = (request.PrependBos ? [.. tokens.Sequences.Select(s => (IReadOnlyList<int>)[GptTokenizer.EndOfText, .. s])] : tokens.Sequences,
                tokens.Batched, "tokens");
        }
        else if (request.Prompt is { } prompt)
            (sequences, batched, field) = ([await tokenizer.EncodeAsync(prompt, "prompt", request.AllowSpecial, request.PrependBos, http.RequestAborted)],
                false, "prompt");
        else
        {
            var encoded = new List<IReadOnlyList<int>>();
            for (var i = 0; i < request.Prompts!.Length; i++)
                encoded.Add(request.Prompts[i] is null
                    ? throw new ProblemException(StatusCodes.Status400BadRequest, $"prompts[{i}]", "expected a text, got null")
                    : await tokenizer.EncodeAsync(request.Prompts[i], $"prompts[{i}]", request.AllowSpecial, request.PrependBos, http.RequestAborted));
            (sequences, batched, field) = (encoded, true, "prompts");
        }
        return new AttributionOperation(AttributionSpec.FromWire(request, sequences, batched, field));
    }
}
