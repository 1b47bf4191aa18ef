using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Hosting;
using ReconService.Api.OpenApi;
using ReconService.Api.Reconstitution;
using ReconService.Models.Wire;

namespace ReconService.Api.Tokenization;

/// <summary>GPT-2 tokenization.</summary>
public static class TokenizeEndpoints
{
    /// <summary>Maps <c>POST /v1/tokenize</c>.</summary>
    public static RouteGroupBuilder MapTokenize(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Tokens").WithStandardProblems();
        group.MapPost("/tokenize", Tokenize).WithName("tokenize").WithExample(ExampleKind.Tokenize)
            .WithSummary("GPT-2 tokens of a text")
            .WithDescription("Token ids, the text of each token (they join to the text) and each token's bytes (base64), with GPT-2's " +
                             "byte-level BPE. <|endoftext|> in the text is ordinary text unless allowSpecial; prependBos puts 50256 first.");
        return group;
    }

    /// <summary>POST /v1/tokenize.</summary>
    public static Results<Ok<TokenizeResponse>, ProblemHttpResult> Tokenize(TokenizeRequest request, GptTokenizer tokenizer, IOptions<LimitsOptions> limits)
    {
        if (request.Text.Length > limits.Value.MaxPromptChars)
            return EngineCall.Problem(StatusCodes.Status422UnprocessableEntity, "text", $"expected at most {limits.Value.MaxPromptChars} characters, got {request.Text.Length}");
        var tokens = tokenizer.Encode(request.Text, request.AllowSpecial, request.PrependBos);
        return TypedResults.Ok(new TokenizeResponse(tokens, tokenizer.TokenStrings(tokens), tokenizer.TokenBytesBase64(tokens),
            request.AllowSpecial, request.PrependBos));
    }
}
