using Microsoft.OpenApi;
using ReconService.Models.Tensors.Safetensors;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace ReconService.Api.OpenApi;

/// <summary>
/// Documents the safetensors media type of every tensor endpoint as what it is, a binary file, with the naming rules
/// (<c>../shared/docs/api.md</c>, "Binary tensors"), in place of the JSON schema the API explorer copies to every media type.
/// </summary>
public sealed class SafetensorsMediaTypeFilter : IOperationFilter
{
    private const string RequestText =
        "A safetensors file: the request's tensors (residual, writeVector, activations; F32, F16 or BF16) under their field names, " +
        "every other field as JSON text in __metadata__[\"request\"]. Its fields are those of the application/json schema.";

    private const string AnswerText =
        "A safetensors file: each tensor of the JSON answer stored under the keys on its path joined with '/' (forward: " +
        "captured/<location>/<layer or none>), top-k positions as <name>Indices (I32), values in output.dtype (F32 by default); " +
        "the rest of the JSON answer as text in __metadata__[\"json\"], with {\"tensor\": \"<name>\"} in each tensor's place. " +
        "numpy: safetensors.numpy.load(body), or np.frombuffer per tensor.";

    /// <inheritdoc />
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (operation.RequestBody is OpenApiRequestBody { Content: { } request } && request.ContainsKey(SafetensorsMediaType.Name))
            request[SafetensorsMediaType.Name] = Binary(RequestText);
        if (operation.Responses?.TryGetValue("200", out var ok) == true && ok is OpenApiResponse { Content: { } answer } &&
            answer.ContainsKey(SafetensorsMediaType.Name))
            answer[SafetensorsMediaType.Name] = Binary(AnswerText);
    }

    private static OpenApiMediaType Binary(string description) => new()
    {
        Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary", Description = description },
    };
}
