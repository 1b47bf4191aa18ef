using Microsoft.Extensions.Options;
using ReconService.Api.Security;

namespace ReconService.Api.Limits;

/// <summary>API keys, the engine queue and request limits.</summary>
public static class ReliabilityRegistration
{
    /// <summary>Binds <c>ApiKeys</c>, <c>Queue</c>, <c>Limits:MaxTokensPerRequest</c> and <c>Limits:MaxResponseElements</c>; registers the queue.</summary>
    public static IServiceCollection AddReconReliability(this IServiceCollection services)
    {
        services.AddOptions<ApiKeyOptions>().BindConfiguration(ApiKeyOptions.Section).ValidateOnStart();
        services.AddOptions<QueueOptions>().BindConfiguration(QueueOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<TokenLimitsOptions>().BindConfiguration(TokenLimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<EngineQueue>();
        return services;
    }

    /// <summary>API keys (after CORS, so preflights pass; before every endpoint).</summary>
    public static WebApplication UseReconApiKeys(this WebApplication app)
    {
        app.UseMiddleware<ApiKeyMiddleware>();
        return app;
    }

    /// <summary>Request limits, then the bounded queue, around every endpoint of the group that runs the engine.</summary>
    public static RouteGroupBuilder WithEngineQueue(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (context, next) =>
        {
            var services = context.HttpContext.RequestServices;
            var host = services.GetRequiredService<Hosting.EngineHost>();
            if (RequestLimits.Check(context.Arguments, services.GetRequiredService<IOptions<TokenLimitsOptions>>().Value,
                    host.IsReady ? host.Engine : null) is { } problem)
                return problem;
            return await services.GetRequiredService<EngineQueue>().RunAsync(context, next);
        });
        group.ProducesProblem(StatusCodes.Status429TooManyRequests).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }
}
