using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Errors;
using ReconService.Models.Tensors;

namespace ReconService.Api.Hosting;

/// <summary>JSON, problem details, body limits and CORS.</summary>
public static class HttpRegistration
{
    /// <summary>Name of the CORS policy for the configured origins.</summary>
    public const string CorsPolicy = "configured-origins";

    /// <summary>camelCase JSON that writes and reads <c>NaN</c>/<c>Infinity</c>; binding errors reach the problem handler.</summary>
    public static IServiceCollection AddReconHttp(this IServiceCollection services)
    {
        services.ConfigureHttpJsonOptions(options =>
        {
            // Not the web default's AllowReadingFromString: "layerIndex": "1" is a type error, not an integer.
            options.SerializerOptions.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
            // "residual": null on a non-nullable field is a 400 naming it, not a null reaching the handler.
            options.SerializerOptions.RespectNullableAnnotations = true;
            // A positional record (latentSlice) missing a constructor argument ({"start": 0}) names the missing field.
            options.SerializerOptions.RespectRequiredConstructorParameters = true;
            options.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            // "detachLNScale": false is a 400 naming the field, not a silently ignored typo (nested objects too).
            options.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        });
        // Malformed JSON then throws BadHttpRequestException (with the JsonException and its path) instead of a bare 400.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        // Problems written without an exception (status code pages after Kestrel or the binder set 413/400) still name the field.
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            if (context.ProblemDetails.Detail is not null || Problems.ForStatus(context.ProblemDetails.Status ?? 0) is not var (field, detail)) return;
            var problem = Problems.Create(context.ProblemDetails.Status!.Value, field, detail);
            context.ProblemDetails.Detail = problem.Detail;
            context.ProblemDetails.Extensions["field"] = field;
        });
        services.AddExceptionHandler<ProblemExceptionHandler>();
        services.AddSingleton<IProblemDetailsWriter, ProblemJsonWriter>(); // problems for requests that accept only safetensors

        services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ConfigurationKeys>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ConfigurationKeys>, ConfigurationKeys.Validator>();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<LimitsOptions>>((kestrel, limits) =>
            kestrel.Limits.MaxRequestBodySize = limits.Value.MaxRequestBodyBytes);

        services.AddOptions<CorsOptions>().BindConfiguration(CorsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddCors();
        services.AddOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>().Configure<IOptions<CorsOptions>>((cors, origins) =>
            cors.AddPolicy(CorsPolicy, policy => policy.WithOrigins(origins.Value.Origins).AllowAnyHeader().AllowAnyMethod()
                .WithExposedHeaders("Retry-After", "X-Cache")));
        return services;
    }

    /// <summary>Problem details for unhandled errors (with the status Kestrel chose, e.g. 413), CORS, pooled request text.</summary>
    public static WebApplication UseReconHttp(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = e => ProblemExceptionHandler.Classify(e).Status,
        });
        app.UseStatusCodePages();
        app.UseCors(CorsPolicy);
        // Base64 request text is read into pooled arrays that are given back when the request ends (TensorTextPool).
        app.Use(async (context, next) =>
        {
            using var textPool = TensorTextPool.Begin();
            await next(context);
        });
        return app;
    }
}
