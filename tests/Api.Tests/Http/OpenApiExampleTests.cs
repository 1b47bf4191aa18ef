using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>Every example in the OpenAPI document, sent as Swagger UI would, succeeds against the default model.</summary>
[Collection(DefaultModel.Name)]
public sealed class OpenApiExampleTests
{
    private readonly DefaultModelService _service;

    public OpenApiExampleTests(DefaultModelService service) => _service = service;

    [Fact]
    public async Task SwaggerUiIsServed()
    {
        using var response = await _service.Client.GetAsync("/swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("swagger", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task EveryOpenApiExampleSucceedsAgainstTheDefaultModel()
    {
        var (sent, withoutExample) = await OpenApiExamples.SendEveryExampleAsync(_service.Client);
        Assert.Empty(withoutExample);
        Assert.True(sent >= 12, $"only {sent} examples were sent");
    }
}
