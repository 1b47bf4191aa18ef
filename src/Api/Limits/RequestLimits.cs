using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Errors;
using ReconService.Engine.Operations;

namespace ReconService.Api.Limits;

/// <summary>
/// The limits step, on the engine's plan (nothing decoded, nothing computed yet): tokens × batch of each input
/// against <see cref="LimitsOptions.MaxTokensPerRequest"/> (422 naming <c>.shape</c>), the values of the whole
/// answer against <see cref="LimitsOptions.MaxResponseElements"/>, and the planned working memory against the
/// engine's memory budget (422 naming the input's shape, or <c>capture</c> / <c>tokens</c> for a forward pass).
/// </summary>
public sealed class RequestLimits(IOptions<LimitsOptions> options)
{
    private readonly LimitsOptions _limits = options.Value;

    /// <summary>Throws the first limit <paramref name="plan"/> is over.</summary>
    /// <exception cref="ProblemException">422 naming the field.</exception>
    public void Check<TResult>(EnginePlan<TResult> plan, long memoryBudgetBytes) where TResult : IEngineResult
    {
        foreach (var input in plan.Inputs)
        {
            var rows = input.Shape.Take(input.Shape.Count - 1).Aggregate(1L, (n, d) => n * d);
            if (rows > _limits.MaxTokensPerRequest)
                throw Over($"{input.Field}.shape",
                    $"expected at most {_limits.MaxTokensPerRequest} tokens × batch (Limits:MaxTokensPerRequest), got [{string.Join(", ", input.Shape)}]");
        }
        if (plan.Operation is ITokenOperation tokens && tokens.TokenCount > _limits.MaxTokensPerRequest)
            throw Over(tokens.TokensField, $"expected at most {_limits.MaxTokensPerRequest} tokens in all (Limits:MaxTokensPerRequest), got {tokens.TokenCount}");
        var (field, size) = plan.Inputs.Count > 0
            ? ($"{plan.Inputs[0].Field}.shape", $"shape [{string.Join(", ", plan.Inputs[0].Shape)}]")
            : plan.Operation is ITokenOperation byTokens
                ? (byTokens.TokensField, $"{byTokens.TokenCount} tokens")
                : (plan.Outputs.Count > 0 ? "capture" : "tokens", $"captures [{string.Join(", ", plan.Outputs.Select(o => o.Name))}]");
        if (plan.OutputElements > _limits.MaxResponseElements)
            throw Over(field, $"the answer would hold {plan.OutputElements} values; expected at most {_limits.MaxResponseElements} " +
                              $"(Limits:MaxResponseElements), got {size}; send fewer tokens or a smaller batch");
        if (plan.WorkingMemoryBytes > memoryBudgetBytes)
            throw Over(field, $"the computation needs an estimated {plan.WorkingMemoryBytes >> 20} MiB of working memory; expected at most " +
                              $"{memoryBudgetBytes >> 20} MiB (Limits:MaxEngineMemoryBytes), got {size}; send fewer tokens or a smaller batch");
    }

    private static ProblemException Over(string field, string message) => new(StatusCodes.Status422UnprocessableEntity, field, message);
}
