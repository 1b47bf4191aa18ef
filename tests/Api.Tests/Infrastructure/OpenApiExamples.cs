using System.Text.Json;
using System.Text.Json.Nodes;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>The request examples of the service's OpenAPI document, sent as Swagger UI sends them.</summary>
public static class OpenApiExamples
{
    /// <summary>The document's POST operations by path.</summary>
    public static async Task<IReadOnlyList<(string Path, JsonNode Operation)>> PostsAsync(HttpClient client)
    {
        var document = JsonNode.Parse(await client.GetStringAsync("/swagger/v1/swagger.json"))!;
        return document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Where(m => m.Key == "post").Select(m => (p.Key, m.Value!)))
            .ToList();
    }

    /// <summary>The JSON request examples of an operation by name (none: an empty object).</summary>
    public static JsonObject Examples(JsonNode operation) =>
        operation["requestBody"]?["content"]?["application/json"]?["examples"]?.AsObject() ?? [];

    /// <summary>
    /// Sends every example of every POST operation, path parameters filled from their own examples, and asserts each is
    /// answered 200 with a non-empty object. Returns how many were sent and the paths that have none.
    /// </summary>
    public static async Task<(int Sent, List<string> WithoutExample)> SendEveryExampleAsync(HttpClient client)
    {
        var sent = 0;
        var withoutExample = new List<string>();
        foreach (var (path, operation) in await PostsAsync(client))
        {
            var examples = Examples(operation);
            if (examples.Count == 0)
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
                using var response = await client.PostRawAsync(url, example!["value"]!.ToJsonString());
                var json = await response.OkJsonAsync();
                Assert.True(json.ValueKind == JsonValueKind.Object && json.EnumerateObject().Any(), $"{url} example {name}: empty answer");
                sent++;
            }
        }
        return (sent, withoutExample);
    }
}
