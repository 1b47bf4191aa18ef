using System.Net;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>413 on real Kestrel, and 503 while the model is loading; neither needs a loaded engine.</summary>
public sealed class LimitsAndReadinessTests
{
    private static JsonObject ActivationsBody(int tokens, int width) => new()
    {
        ["residual"] = Wire.Tensor([tokens, width], new float[tokens * width]),
        ["layerIndex"] = 0,
        ["nodeType"] = "mlp_neuron",
        ["preOrPostAct"] = "post",
    };

    [Fact]
    public async Task ABodyOverTheConfiguredLimitIsA413ProblemOnKestrel()
    {
        using var factory = new BlockingEngineFactory(new() { ["Limits:MaxRequestBodyBytes"] = "4096" });
        factory.Engine.Release.Set();
        factory.UseKestrel(0);
        factory.StartServer();
        using var client = await factory.ReadyClientAsync();

        using var response = await client.PostJsonAsync("/v1/activations", ActivationsBody(16, 128));
        var problem = await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "body");
        Assert.Contains("Limits:MaxRequestBodyBytes", problem.GetProperty("detail").GetString());

        using var small = await client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
    }

    [Fact]
    public async Task AFullQueueIsA429ProblemWithRetryAfter()
    {
        using var factory = new BlockingEngineFactory(new() { ["Queue:Concurrency"] = "1", ["Queue:Length"] = "0", ["Cache:Enabled"] = "false" });
        using var client = await factory.ReadyClientAsync();
        var first = client.PostJsonAsync("/v1/activations", ActivationsBody(2, 8));
        Assert.True(factory.Engine.Entered.Wait(TimeSpan.FromSeconds(30)), "the first request reached the engine");

        using var second = await client.PostJsonAsync("/v1/activations", ActivationsBody(2, 8));
        await second.AssertProblemAsync(HttpStatusCode.TooManyRequests, "queue");
        Assert.True(second.Headers.RetryAfter is not null, "429 carries Retry-After");

        factory.Engine.Release.Set();
        using var firstResponse = await first;
        var (shape, _) = Wire.ReadTensor((await firstResponse.OkJsonAsync()).GetProperty("activations"));
        Assert.Equal([2L, 32L], shape);
    }

    [Fact]
    public async Task RequestsWhileLoadingAre503WithRetryAfter()
    {
        using var factory = new NotReadyFactory([]);
        using var client = factory.CreateClient();

        using var live = await client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using var ready = await client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);

        using var response = await client.PostJsonAsync("/v1/activations", ActivationsBody(2, 8));
        await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "model");
        Assert.True(response.Headers.RetryAfter is not null, "503 carries Retry-After");

        using var info = await client.GetAsync("/v1/model");
        await info.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "model");
    }

    [Fact]
    public async Task ReadinessComesFirstSoEvenMalformedRequestsAre503WhileLoading()
    {
        using var factory = new NotReadyFactory([]);
        using var client = factory.CreateClient();
        using var response = await client.PostRawAsync("/v1/gradients", "{\"residual\": [1, 2,");
        await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "model");
    }

    [Fact]
    public async Task TokenizeWorksWithoutTheModelAndItsPiecesSpellTheText()
    {
        using var factory = new NotReadyFactory([]);
        using var client = factory.CreateClient();
        const string text = "And God said, Let there be light: and there was light.";
        using var response = await client.PostJsonAsync("/v1/tokenize", new JsonObject { ["text"] = text });
        var json = await response.OkJsonAsync();
        var tokens = json.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        var strings = json.GetProperty("tokenStrings").EnumerateArray().Select(t => t.GetString()).ToArray();
        Assert.True(tokens.Length > 5 && tokens.Length < text.Length, $"{tokens.Length} tokens");
        Assert.Equal(tokens.Length, strings.Length);
        Assert.Equal(text, string.Concat(strings));
        Assert.All(tokens, t => Assert.InRange(t, 0, 50256));
    }

    [Fact]
    public async Task CorsAllowsAConfiguredOriginOnly()
    {
        using var factory = new NotReadyFactory(new() { ["Cors:Origins:0"] = "http://localhost:8123" });
        using var client = factory.CreateClient();
        using var allowed = new HttpRequestMessage(HttpMethod.Options, "/v1/activations");
        allowed.Headers.Add("Origin", "http://localhost:8123");
        allowed.Headers.Add("Access-Control-Request-Method", "POST");
        using var allowedResponse = await client.SendAsync(allowed);
        Assert.Equal("http://localhost:8123", allowedResponse.Headers.GetValues("Access-Control-Allow-Origin").Single());

        using var other = new HttpRequestMessage(HttpMethod.Options, "/v1/activations");
        other.Headers.Add("Origin", "http://evil.example");
        other.Headers.Add("Access-Control-Request-Method", "POST");
        using var otherResponse = await client.SendAsync(other);
        Assert.False(otherResponse.Headers.Contains("Access-Control-Allow-Origin"));
    }
}
