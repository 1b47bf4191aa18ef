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
        var document = JsonNode.Parse(await _service.Client.GetStringAsync("/swagger/v1/swagger.json"))!;
        var sent = 0;
        var withoutExample = new List<string>();
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in item!.AsObject())
            {
                if (method != "post") continue;
                var examples = operation!["requestBody"]?["content"]?["application/json"]?["examples"]?.AsObject();
                if (examples is null || examples.Count == 0)
                {
                    withoutExample.Add(path);
                    continue;
                }
                var url = path;
                foreach (var parameter in operation["parameters"]?.AsArray() ?? [])
                {
                    var name = parameter!["name"]!.GetValue<string>();
                    var value = parameter["examples"]?.AsObject().First().Value?["value"]?.GetValue<string>();
                    Assert.True(value is not null, $"{path}: path parameter {name} has no example");
                    url = url.Replace("{" + name + "}", Uri.EscapeDataString(value));
                }
                foreach (var (name, example) in examples)
                {
                    using var response = await _service.Client.PostRawAsync(url, example!["value"]!.ToJsonString());
                    var json = await response.OkJsonAsync();
                    Assert.True(json.ValueKind == JsonValueKind.Object && json.EnumerateObject().Any(), $"{url} example {name}: empty answer");
                    sent++;
                }
            }
        }
        Assert.Empty(withoutExample);
        Assert.True(sent >= 12, $"only {sent} examples were sent");
    }
}
