using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ReconService.Api.Tests.Infrastructure;
using ReconService.Api.Tokenization;

namespace ReconService.Api.Tests.Http;

/// <summary>API keys (missing, wrong, right; health exempt) and error bodies without paths or stack traces.</summary>
public sealed class SecurityTests
{
    private const string Key = "test-key-0123456789";

    private static NotReadyFactory KeyedService() => new(new()
    {
        ["ApiKeys:Keys:0"] = "another-key",
        ["ApiKeys:Keys:1"] = Key,
    });

    [Fact]
    public async Task ARequestWithoutAnApiKeyIsA401Problem()
    {
        using var factory = KeyedService();
        using var client = factory.CreateClient();
        using var response = await client.PostJsonAsync("/v1/tokenize", new JsonObject { ["text"] = "In the beginning" });
        await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "X-API-Key");
        Assert.NotEmpty(response.Headers.WwwAuthenticate);
    }

    [Fact]
    public async Task ARequestWithAWrongApiKeyIsA401Problem()
    {
        using var factory = KeyedService();
        using var client = factory.CreateClient();
        foreach (var wrong in new[] { Key + "x", Key[..^1], "", "another-keY" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/metrics");
            request.Headers.TryAddWithoutValidation("X-API-Key", wrong);
            using var response = await client.SendAsync(request);
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "X-API-Key");
        }
    }

    [Fact]
    public async Task ARequestWithAConfiguredApiKeyIsServed()
    {
        using var factory = KeyedService();
        using var client = factory.CreateClient();
        client.DefaultRequestHeaders.Add("X-API-Key", Key);
        using var response = await client.PostJsonAsync("/v1/tokenize", new JsonObject { ["text"] = "In the beginning" });
        var json = await response.OkJsonAsync();
        Assert.True(json.GetProperty("tokens").GetArrayLength() > 0);
        using var metrics = await client.GetAsync("/v1/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
    }

    [Fact]
    public async Task HealthProbesNeedNoApiKey()
    {
        using var factory = KeyedService();
        using var client = factory.CreateClient();
        using var live = await client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using var ready = await client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
    }

    [Fact]
    public async Task WithNoKeysConfiguredTheServiceIsOpen()
    {
        using var factory = new NotReadyFactory([]);
        using var client = factory.CreateClient();
        using var response = await client.GetAsync("/v1/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task AnUnexpectedErrorIsA500WithoutPathsOrStackTraces()
    {
        using var factory = new FailingTokenizerFactory();
        using var client = factory.CreateClient();
        using var response = await client.PostJsonAsync("/v1/tokenize", new JsonObject { ["text"] = "In the beginning" });
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        AssertNoInternals(text);
    }

    [Fact]
    public async Task BadRequestsAnswerWithoutPathsOrStackTraces()
    {
        using var factory = new BlockingEngineFactory([]);
        factory.Engine.Release.Set();
        using var client = await factory.ReadyClientAsync();
        foreach (var (path, body) in new[]
                 {
                     ("/v1/activations", "{\"residual\": {\"dtype\": \"float32\", \"shape\": [-1], \"data\": \"\"}}"),
                     ("/v1/activations", "{\"residual\": 12"),
                     ("/v1/tokenize", "{\"text\": 12}"),
                     ("/v1/forward", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]"),
                 })
        {
            using var response = await client.PostRawAsync(path, body);
            Assert.True((int)response.StatusCode is >= 400 and < 500, $"{path}: {(int)response.StatusCode}");
            AssertNoInternals(await response.Content.ReadAsStringAsync());
        }
    }

    private static void AssertNoInternals(string body)
    {
        Assert.DoesNotContain("/srv/secret", body, StringComparison.Ordinal);
        Assert.DoesNotContain(RepoPaths.Root, body, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
        Assert.DoesNotContain(".cs:line", body, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", body, StringComparison.Ordinal);
    }

    /// <summary>A service whose tokenizer fails with a message naming a file, as a broken install would.</summary>
    private sealed class FailingTokenizerFactory() : ServiceFactory(new Dictionary<string, string?>())
    {
        protected override void ConfigureTestServices(IServiceCollection services) =>
            services.AddSingleton<GptTokenizer>(_ => throw new InvalidOperationException("could not read /srv/secret/vocab.json"));
    }
}
