using ReconService.Api.Caching;
using ReconService.Api.Pipeline;
using ReconService.Api.Security;
using ReconService.Api.Tokenization;

namespace ReconService.Api.Limits;

/// <summary>The engine pipeline and what it is made of: binding, reduction, limits, encoders, the queue; API keys.</summary>
public static class ReliabilityRegistration
{
    /// <summary>Binds <c>ApiKeys</c> and <c>Queue</c>; registers the pipeline's steps (JSON reader and encoder, no reduction).</summary>
    public static IServiceCollection AddReconPipeline(this IServiceCollection services)
    {
        services.AddOptions<ApiKeyOptions>().BindConfiguration(ApiKeyOptions.Section).ValidateOnStart();
        services.AddOptions<QueueOptions>().BindConfiguration(QueueOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddReconCache();
        services.AddSingleton<EngineQueue>();
        services.AddSingleton<RequestLimits>();
        services.AddSingleton<PromptTokenizer>();
        services.AddSingleton<IRequestReader, JsonRequestReader>();
        services.AddSingleton<IRequestReader, SafetensorsBodyReader>();
        services.AddSingleton<RequestBinder>();
        services.AddSingleton<IOutputReduction, OutputSelection>();
        services.AddSingleton<IAnswerEncoder, JsonAnswerEncoder>();
        services.AddSingleton<IAnswerEncoder, SafetensorsAnswerEncoder>();
        services.AddSingleton<AnswerEncoders>();
        services.AddSingleton<AnswerStatistics>();
        services.AddSingleton<EnginePipeline>();
        return services;
    }

    /// <summary>API keys on <c>/v1</c> (after CORS, so preflights pass).</summary>
    public static WebApplication UseReconApiKeys(this WebApplication app)
    {
        app.UseMiddleware<ApiKeyMiddleware>();
        return app;
    }
}
