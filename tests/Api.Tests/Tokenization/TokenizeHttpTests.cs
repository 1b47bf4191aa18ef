using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Tokenization;

/// <summary>The tokenizer's policy over HTTP: the same in <c>/v1/tokenize</c> and <c>/v1/forward</c>, echoed in both.</summary>
public sealed class TokenizeHttpTests(TokenizeHttpTests.Service service) : IClassFixture<TokenizeHttpTests.Service>
{
    public sealed class Service : IAsyncLifetime
    {
        public DefaultModelFactory Factory { get; } = new();
        public HttpClient Client { get; private set; } = null!;
        public async Task InitializeAsync() => Client = await Factory.ReadyClientAsync();
        public Task DisposeAsync()
        {
            Factory.Dispose();
            return Task.CompletedTask;
        }
    }

    private const string Text = "🤗 Let there be light<|endoftext|>";

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
    private static string[] Strings(JsonElement e) => e.EnumerateArray().Select(x => x.GetString()!).ToArray();

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task TokenizeAndForwardApplyTheSamePolicyAndEchoIt(bool allowSpecial, bool prependBos)
    {
        var tokenized = await (await service.Client.PostJsonAsync("/v1/tokenize", new JsonObject
        {
            ["text"] = Text, ["allowSpecial"] = allowSpecial, ["prependBos"] = prependBos,
        })).OkJsonAsync();
        var forward = await (await service.Client.PostJsonAsync("/v1/forward", new JsonObject
        {
            ["prompt"] = Text, ["allowSpecial"] = allowSpecial, ["prependBos"] = prependBos, ["topK"] = 0,
        })).OkJsonAsync();

        foreach (var answer in new[] { tokenized, forward })
        {
            var tokens = Ints(answer.GetProperty("tokens"));
            Assert.Equal(allowSpecial, answer.GetProperty("allowSpecial").GetBoolean());
            Assert.Equal(prependBos, answer.GetProperty("prependBos").GetBoolean());
            Assert.Equal(prependBos, tokens[0] == 50256);
            Assert.Equal(allowSpecial, tokens[^1] == 50256);
            Assert.Equal(allowSpecial ? 1 : 0, tokens.Count(t => t == 50256) - (prependBos ? 1 : 0));
            var text = (prependBos ? "<|endoftext|>" : "") + Text;
            Assert.Equal(text, string.Concat(Strings(answer.GetProperty("tokenStrings"))));
            var bytes = Strings(answer.GetProperty("tokenBytes")).Select(Convert.FromBase64String).ToArray();
            Assert.Equal(tokens.Length, bytes.Length);
            Assert.Equal(Encoding.UTF8.GetBytes(text), bytes.SelectMany(b => b).ToArray());
        }
        Assert.Equal(Ints(tokenized.GetProperty("tokens")), Ints(forward.GetProperty("tokens")));
        Assert.Equal(new[] { "", "", "🤗" }, Strings(tokenized.GetProperty("tokenStrings")).Skip(prependBos ? 1 : 0).Take(3));
    }

    [Fact]
    public async Task DefaultsTreatEndOfTextAsTextAndPrependNothing()
    {
        var answer = await (await service.Client.PostJsonAsync("/v1/tokenize", new JsonObject { ["text"] = "<|endoftext|>" })).OkJsonAsync();

        Assert.Equal([27, 91, 437, 1659, 5239, 91, 29], Ints(answer.GetProperty("tokens")));
        Assert.False(answer.GetProperty("allowSpecial").GetBoolean());
        Assert.False(answer.GetProperty("prependBos").GetBoolean());
    }

    [Fact]
    public async Task ForwardPrependsBosToGivenTokens()
    {
        var answer = await (await service.Client.PostJsonAsync("/v1/forward", new JsonObject
        {
            ["tokens"] = new JsonArray(818, 262), ["prependBos"] = true, ["topK"] = 0,
        })).OkJsonAsync();

        Assert.Equal([50256, 818, 262], Ints(answer.GetProperty("tokens")));
        Assert.Equal(["<|endoftext|>", "In", " the"], Strings(answer.GetProperty("tokenStrings")));
    }

    [Fact]
    public async Task ForwardRefusesAllowSpecialWithTokens()
    {
        using var response = await service.Client.PostJsonAsync("/v1/forward", new JsonObject
        {
            ["tokens"] = new JsonArray(818, 262), ["allowSpecial"] = true,
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("allowSpecial", problem.GetProperty("field").GetString());
    }
}
