using Microsoft.AspNetCore.Http.HttpResults;
using ReconService.Api.OpenApi;
using ReconService.Models.Wire;

namespace ReconService.Api.Tokenization;

/// <summary>GPT-2 tokenization (no model needed, no engine slot taken).</summary>
public static class TokenizeEndpoints
{
    /// <summary>Maps <c>POST /v1/tokenize</c>.</summary>
    public static RouteGroupBuilder MapTokenize(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Tokens");
        group.MapPost("/tokenize", Tokenize).WithName("tokenize").WithExample(ExampleKind.Tokenize)
            .WithSummary("GPT-2 tokens of a text")
            .WithDescription("Token ids, the text of each token (they join to the text) and each token's bytes (base64), with GPT-2's " +
                             "byte-level BPE. <|endoftext|> in the text is ordinary text unless allowSpecial; prependBos puts 50256 first.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        return group;
    }

    /// <summary>POST /v1/tokenize.</summary>
    public static async Task<Ok<TokenizeResponse>> Tokenize(TokenizeRequest request, PromptTokenizer tokenizer, HttpContext http)
    {
        var tokens = await tokenizer.EncodeAsync(request.Text, "text", request.AllowSpecial, request.PrependBos, http.RequestAborted);
        return TypedResults.Ok(new TokenizeResponse(tokens, tokenizer.TokenStrings(tokens), tokenizer.TokenBytesBase64(tokens),
            request.AllowSpecial, request.PrependBos));
    }
}
