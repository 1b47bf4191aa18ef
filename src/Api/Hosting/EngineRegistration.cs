using ReconService.Api.Configuration;
using ReconService.Api.Tokenization;

namespace ReconService.Api.Hosting;

/// <summary>Registers the engine singleton, its background loader and the tokenizer.</summary>
public static class EngineRegistration
{
    /// <summary>Binds <c>Model</c>, <c>Autoencoders</c> and <c>Engine</c> and loads the engine at start-up.</summary>
    public static IServiceCollection AddReconEngine(this IServiceCollection services)
    {
        services.AddOptions<ModelOptions>().BindConfiguration(ModelOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<EngineHostOptions>().BindConfiguration(EngineHostOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AutoencodersOptions>().BindConfiguration(AutoencodersOptions.Section)
            .Validate(all => all.All(kv => !string.IsNullOrWhiteSpace(kv.Value.Path)), "every Autoencoders:<name> needs a Path")
            .Validate(all => all.All(kv => InputTypeIsValid(kv.Key, kv.Value.InputType)),
                "Autoencoders:<name>:InputType must be one of " + Engine.Loading.AutoencoderInputTypes.Accepted)
            .ValidateOnStart();
        services.AddSingleton<ModelLocator>();
        services.AddSingleton<EngineHost>();
        services.AddSingleton<IEngineLoader, ReconstitutionEngineLoader>();
        services.AddHostedService<EngineStartupService>();
        services.AddSingleton<GptTokenizer>();
        return services;
    }

    private static bool InputTypeIsValid(string name, string? value)
    {
        try
        {
            ModelLocator.ParseInputType(name, value);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
