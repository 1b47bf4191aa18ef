using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using ReconService.Models.Tensors;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace ReconService.Api.OpenApi;

/// <summary>Swagger UI at <c>/swagger</c> over an OpenAPI document with a working request example for every endpoint.</summary>
public static class SwaggerSetup
{
    /// <summary>Name of the API-key security scheme in the OpenAPI document.</summary>
    public const string ApiKeyScheme = "ApiKey";

    /// <summary>Registers the OpenAPI generator.</summary>
    public static IServiceCollection AddReconSwagger(this IServiceCollection services)
    {
        services.AddSingleton<RequestExamples>();
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(options =>
        {
            options.SwaggerDoc("v1", new OpenApiInfo
            {
                Title = "ReconService",
                Version = "v1",
                Description = "Transformer Debugger's reconstitution over HTTP: activations, gradients, JVPs, block outputs, attention, " +
                              "logits and autoencoder latents recomputed from residual streams. Tensors are {dtype, shape, data} with " +
                              "data the base64 of row-major little-endian values. Every tensor endpoint also takes and answers " +
                              "application/x-safetensors (Content-Type, Accept), and takes output (positions, indices, topK, by, dtype).",
            });
            options.MapType<TensorPayload>(TensorSchema);
            options.MapType<Models.Wire.TokenSequences>(() => new OpenApiSchema
            {
                Type = JsonSchemaType.Array,
                Description = "Token ids of one sequence ([464, 3139]) or of a batch, as a list of lists ([[464, 3139], [818]]).",
                Items = new OpenApiSchema { Type = JsonSchemaType.Integer | JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.Integer } },
            });
            options.MapType<Models.Wire.AllOrIndex>(() => new OpenApiSchema
            {
                Type = JsonSchemaType.Integer | JsonSchemaType.String, Description = "An index, or \"All\" (every index on that axis).",
            });
            // Swagger UI's "Authorize" sends the key on /v1 requests (ApiKeys:Keys); the document and UI themselves are open.
            options.AddSecurityDefinition(ApiKeyScheme, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = Security.ApiKeyOptions.Header,
                Description = "Required on /v1 endpoints when the service has ApiKeys:Keys configured.",
            });
            options.AddSecurityRequirement(document => new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyScheme, document)] = [] });
            options.OperationFilter<RouteParameterFilter>();
            options.OperationFilter<ExampleOperationFilter>();
            options.OperationFilter<SafetensorsMediaTypeFilter>();
            var xml = Path.Combine(AppContext.BaseDirectory, "ReconService.Models.xml");
            if (File.Exists(xml)) options.IncludeXmlComments(xml);
        });
        return services;
    }

    /// <summary>Serves the document at <c>/swagger/v1/swagger.json</c> and the UI at <c>/swagger</c>.</summary>
    public static WebApplication UseReconSwagger(this WebApplication app)
    {
        app.UseSwagger();
        app.UseSwaggerUI(options => options.SwaggerEndpoint("/swagger/v1/swagger.json", "ReconService v1"));
        return app;
    }

    private static OpenApiSchema TensorSchema() => new()
    {
        Type = JsonSchemaType.Object,
        Description = "A tensor: data is base64 (RFC 4648, padded) of the row-major little-endian values, or nested arrays " +
                      "when outputEncoding is \"list\" (non-finite values as \"-Infinity\", \"Infinity\", \"NaN\"). Inputs are float32, " +
                      "float16 or bfloat16; answers float32 unless output.dtype says otherwise, and int32 for top-k positions (XIndices).",
        Required = new HashSet<string> { "shape", "data" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["dtype"] = new OpenApiSchema { Type = JsonSchemaType.String, Enum = [JsonValue.Create("float32"), JsonValue.Create("float16"), JsonValue.Create("bfloat16"), JsonValue.Create("int32")], Default = JsonValue.Create("float32") },
            ["shape"] = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int64", Minimum = "0" } },
            ["data"] = new OpenApiSchema { Description = "base64 string, or nested arrays of numbers", Type = JsonSchemaType.String | JsonSchemaType.Array },
        },
    };

    /// <summary>
    /// Declares the route's path parameters (<c>{name}</c>) that the handler does not bind itself: engine endpoints read
    /// them in their operation mapping, so the API explorer does not see them.
    /// </summary>
    private sealed class RouteParameterFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            var path = context.ApiDescription.RelativePath ?? "";
            foreach (var name in System.Text.RegularExpressions.Regex.Matches(path, @"\{([^}:?]+)[^}]*\}").Select(m => m.Groups[1].Value))
            {
                operation.Parameters ??= [];
                if (operation.Parameters.Any(p => p.Name == name && p.In == ParameterLocation.Path)) continue;
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = name, In = ParameterLocation.Path, Required = true, Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                });
            }
        }
    }

    /// <summary>Adds the endpoint's request examples (body and path values), serialized with the app's JSON options.</summary>
    private sealed class ExampleOperationFilter(RequestExamples examples, IOptions<JsonOptions> json) : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            var metadata = context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<ExampleMetadata>().FirstOrDefault();
            if (metadata is null) return;
            var list = examples.Get(metadata.Kind);
            if (list.Count == 0) return;
            if (operation.RequestBody is OpenApiRequestBody body && body.Content is not null &&
                body.Content.TryGetValue("application/json", out var media) && media is OpenApiMediaType mediaType)
            {
                mediaType.Examples ??= new Dictionary<string, IOpenApiExample>();
                foreach (var example in list)
                    mediaType.Examples[example.Name] = new OpenApiExample
                    {
                        Summary = example.Summary,
                        Value = JsonSerializer.SerializeToNode(example.Body, example.Body.GetType(), json.Value.SerializerOptions),
                    };
            }
            foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
            {
                var value = list.Select(e => e.RouteValues.GetValueOrDefault(parameter.Name ?? "")).FirstOrDefault(v => v is not null);
                if (value is null) continue;
                parameter.Examples ??= new Dictionary<string, IOpenApiExample>();
                parameter.Examples["default"] = new OpenApiExample { Value = JsonValue.Create(value) };
            }
        }
    }
}
