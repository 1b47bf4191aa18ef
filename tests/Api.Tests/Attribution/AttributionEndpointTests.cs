using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Attribution;

/// <summary>
/// <c>POST /v1/attribution</c> on the embedded model: prompts and token lists give the same answer, batches answer each
/// sequence as it would be answered alone, the answer has api.md's fields, and bad requests are refused naming the field.
/// </summary>
[Collection(DefaultModel.Name)]
public sealed class AttributionEndpointTests(DefaultModelService service)
{
    /// <summary>' LORD' rather than ' king' after "And the" (GPT-2 tokens 1870, 262; 35750; 5822).</summary>
    private static JsonObject Lord(JsonNode sequences, string field = "tokens") => new()
    {
        [field] = sequences,
        ["loss"] = new JsonObject { ["name"] = "logit_diff", ["targetTokens"] = new JsonArray(35750), ["distractorTokens"] = new JsonArray(5822) },
        ["topK"] = 4,
    };

    [Fact]
    public async Task APromptIsAttributedExactlyAsItsTokens()
    {
        using var byPrompt = await service.Client.PostJsonAsync("/v1/attribution", Lord("And the", "prompt"));
        using var byTokens = await service.Client.PostJsonAsync("/v1/attribution", Lord(new JsonArray(1870, 262)));
        var (a, b) = (await byPrompt.OkJsonAsync(), await byTokens.OkJsonAsync());
        Assert.Equal([1870, 262], a.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()));
        Assert.Equal(b.ToString(), a.ToString());
        Assert.True(a.GetProperty("nodeTable").GetArrayLength() > 0);
        Assert.False(a.TryGetProperty("scalars", out _));
        Assert.False(a.TryGetProperty("logits", out _));
    }

    [Fact]
    public async Task AllowSpecialAndPrependBosTokenizeAsForwardDoesAndAreEchoed()
    {
        // Default: <|endoftext|> in a prompt is ordinary text; allowSpecial makes it 50256; prependBos puts 50256 first.
        using var plain = await service.Client.PostJsonAsync("/v1/attribution", Lord("And the<|endoftext|>", "prompt"));
        var plainAnswer = await plain.OkJsonAsync();
        using var forward = await service.Client.PostJsonAsync("/v1/forward", new JsonObject { ["prompt"] = "And the<|endoftext|>" });
        Assert.Equal(Ints((await forward.OkJsonAsync()).GetProperty("tokens")), Ints(plainAnswer.GetProperty("tokens")));
        Assert.DoesNotContain(50256, Ints(plainAnswer.GetProperty("tokens")));
        Assert.False(plainAnswer.GetProperty("allowSpecial").GetBoolean());
        Assert.False(plainAnswer.GetProperty("prependBos").GetBoolean());

        using var special = await service.Client.PostJsonAsync("/v1/attribution",
            Lord("And the<|endoftext|>", "prompt").With("allowSpecial", true).With("prependBos", true));
        var specialAnswer = await special.OkJsonAsync();
        Assert.Equal([50256, 1870, 262, 50256], Ints(specialAnswer.GetProperty("tokens")));
        Assert.True(specialAnswer.GetProperty("allowSpecial").GetBoolean());
        Assert.True(specialAnswer.GetProperty("prependBos").GetBoolean());
        using var asTokens = await service.Client.PostJsonAsync("/v1/attribution", Lord(new JsonArray(50256, 1870, 262, 50256)));
        var tokensAnswer = await asTokens.OkJsonAsync();
        Assert.Equal(tokensAnswer.GetProperty("loss").GetDouble(), specialAnswer.GetProperty("loss").GetDouble());
        Assert.Equal(Keys(tokensAnswer.GetProperty("nodeTable")), Keys(specialAnswer.GetProperty("nodeTable")));

        // prependBos before given tokens too, in every sequence of a batch (prompts and token lists alike).
        using var batch = await service.Client.PostJsonAsync("/v1/attribution",
            Lord(new JsonArray(new JsonArray(1870, 262), new JsonArray(818))).With("prependBos", true));
        var results = (await batch.OkJsonAsync()).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal([50256, 1870, 262], Ints(results[0].GetProperty("tokens")));
        Assert.Equal([50256, 818], Ints(results[1].GetProperty("tokens")));
        Assert.All(results, r => Assert.True(r.GetProperty("prependBos").GetBoolean()));
        using var prompts = await service.Client.PostJsonAsync("/v1/attribution",
            Lord(new JsonArray("And the", "In"), "prompts").With("prependBos", true));
        var promptResults = (await prompts.OkJsonAsync()).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal([50256, 1870, 262], Ints(promptResults[0].GetProperty("tokens")));
        Assert.Equal(results[0].GetProperty("loss").GetDouble(), promptResults[0].GetProperty("loss").GetDouble());
    }

    private static int[] Ints(JsonElement array) => [.. array.EnumerateArray().Select(t => t.GetInt32())];

    [Theory]
    [InlineData("prompts")]
    [InlineData("tokens")]
    public async Task EachSequenceOfABatchIsAnsweredAsItWouldBeAlone(string field)
    {
        string[] prompts = ["And the", "In the beginning God created the heaven", "And God said"];
        var tokens = new List<int[]>();
        foreach (var prompt in prompts)
        {
            using var tokenized = await service.Client.PostJsonAsync("/v1/tokenize", new JsonObject { ["text"] = prompt });
            tokens.Add([.. (await tokenized.OkJsonAsync()).GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32())]);
        }
        JsonNode batch = field == "prompts"
            ? new JsonArray(prompts.Select(p => (JsonNode)p!).ToArray())
            : new JsonArray(tokens.Select(t => (JsonNode)new JsonArray(t.Select(i => (JsonNode)i).ToArray())).ToArray());
        using var together = await service.Client.PostJsonAsync("/v1/attribution", Lord(batch, field).With("dense", true).With("verifyTopN", 2));
        var results = (await together.OkJsonAsync()).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(prompts.Length, results.Count);
        for (var i = 0; i < prompts.Length; i++)
        {
            using var alone = await service.Client.PostJsonAsync("/v1/attribution",
                Lord(new JsonArray(tokens[i].Select(t => (JsonNode)t).ToArray())).With("dense", true).With("verifyTopN", 2));
            var expected = await alone.OkJsonAsync();
            var actual = results[i];
            Assert.Equal(tokens[i], actual.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()));
            Assert.Equal(expected.GetProperty("loss").GetDouble(), actual.GetProperty("loss").GetDouble(), 5);
            Assert.Equal(Keys(expected.GetProperty("nodeTable")), Keys(actual.GetProperty("nodeTable")));
            Assert.Equal(Keys(expected.GetProperty("verification")), Keys(actual.GetProperty("verification")));
            foreach (var (path, tensor) in Tensors(expected))
            {
                var (shape, values) = Wire.ReadTensor(tensor);
                var (actualShape, actualValues) = Wire.ReadTensor(Tensors(actual)[path]);
                Assert.Equal(shape, actualShape);
                for (var j = 0; j < values.Length; j++)
                    Assert.True(Math.Abs(values[j] - actualValues[j]) <= 1e-5 + 1e-4 * Math.Abs(values[j]), $"sequence {i} {path}[{j}]: {actualValues[j]} vs {values[j]}");
            }
        }
    }

    [Fact]
    public async Task TheAnswerHasApiMdsFieldsAndTensorsForEveryGroupAndLayer()
    {
        var body = Lord(new JsonArray(1870, 262)).With("dense", true).With("verifyTopN", 3)
            .With("autoencoders", new JsonArray(service.Autoencoder))
            .With("ablations", new JsonArray(new JsonObject
            {
                ["nodeType"] = "attention_head", ["layerIndex"] = 0, ["tensorIndices"] = new JsonArray(1, "All", 0), ["value"] = 0.0,
            }));
        using var response = await service.Client.PostJsonAsync("/v1/attribution", body);
        var answer = await response.OkJsonAsync();
        Assert.Equal(["allowSpecial", "logits", "loss", "nodeTable", "prependBos", "scalars", "sums", "tokens", "unablatedLoss", "verification"],
            answer.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.NotEqual(answer.GetProperty("loss").GetDouble(), answer.GetProperty("unablatedLoss").GetDouble());
        Assert.Equal([2, 50257], Wire.ReadTensor(answer.GetProperty("logits")).Shape);
        string[] groups = ["act_times_grad", "activation", "direction_write", "write_norm"];
        Assert.Equal(groups, answer.GetProperty("sums").EnumerateObject().Select(g => g.Name).Order(StringComparer.Ordinal));
        var scalars = answer.GetProperty("scalars");
        Assert.Equal([2, 2, service.NHeads], Wire.ReadTensor(scalars.GetProperty("activation").GetProperty("attn_qk_probs").GetProperty("0")).Shape);
        Assert.Equal([2, 1], Wire.ReadTensor(scalars.GetProperty("act_times_grad").GetProperty("token_attribution").GetProperty("none")).Shape);
        var latents = scalars.GetProperty("write_norm").GetProperty("online_mlp_autoencoder_write_norm");
        Assert.Equal(service.NLayers, latents.EnumerateObject().Count());
        Assert.Equal([2, service.AutoencoderLatents], Wire.ReadTensor(latents.GetProperty("0")).Shape);
        Assert.Equal([2, service.DFf], Wire.ReadTensor(scalars.GetProperty("activation").GetProperty("online_mlp_autoencoder_error").GetProperty("0")).Shape);
        foreach (var row in answer.GetProperty("nodeTable").EnumerateArray())
        {
            Assert.Equal(groups, row.GetProperty("values").EnumerateObject().Select(v => v.Name).Order(StringComparer.Ordinal));
            var type = row.GetProperty("nodeType").GetString();
            Assert.Contains(type, new[] { "layer", "attention_head", "mlp_autoencoder_latent", "mlp_autoencoder_error" });
            Assert.Equal(type != "layer", row.TryGetProperty("layerIndex", out _));
            Assert.Equal(type!.StartsWith("mlp_autoencoder", StringComparison.Ordinal), row.TryGetProperty("autoencoder", out _));
        }
        var verification = answer.GetProperty("verification").EnumerateArray().ToList();
        Assert.Equal(3, verification.Count);
        foreach (var v in verification)
        {
            Assert.Equal(-v.GetProperty("actTimesGrad").GetDouble(), v.GetProperty("estimate").GetDouble(), 6);
            Assert.Equal(v.GetProperty("ablatedValue").GetDouble() - answer.GetProperty("loss").GetDouble(), v.GetProperty("lossChange").GetDouble(), 4);
        }
        var magnitudes = verification.Select(v => Math.Abs(v.GetProperty("actTimesGrad").GetDouble())).ToList();
        Assert.Equal(magnitudes.OrderDescending(), magnitudes);
    }

    public static TheoryData<string, int, string> BadRequests() => new()
    {
        { """{"loss": {"name": "probs", "targetTokens": [1]}}""", 400, "tokens" },
        { """{"tokens": [1, 2], "prompt": "And", "loss": {"name": "probs", "targetTokens": [1]}}""", 400, "prompt" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1]}, "bogus": 1}""", 400, "bogus" },
        { """{"tokens": [1, "2"], "loss": {"name": "probs", "targetTokens": [1]}}""", 400, "tokens" },
        { """{"tokens": [1, 2], "loss": {"name": "entropy", "targetTokens": [1]}}""", 400, "loss.name" },
        { """{"prompts": ["And", null], "loss": {"name": "probs", "targetTokens": [1]}}""", 400, "prompts[1]" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1]}, "ablations": [{"nodeType": "mlp_neuron", "layerIndex": 0, "tensorIndices": [0, "Some"]}]}""", 400, "ablations" },
        { """{"tokens": [], "loss": {"name": "probs", "targetTokens": [1]}}""", 422, "tokens" },
        { """{"tokens": [[1, 2], []], "loss": {"name": "probs", "targetTokens": [1]}}""", 422, "tokens[1]" },
        { """{"prompts": ["And the", ""], "loss": {"name": "probs", "targetTokens": [1]}}""", 422, "prompts[1]" },
        { """{"prompt": "", "loss": {"name": "probs", "targetTokens": [1]}}""", 422, "prompt" },
        { """{"tokens": [1, 99999], "loss": {"name": "probs", "targetTokens": [1]}}""", 422, "tokens[1]" },
        { """{"tokens": [1, 2]}""", 422, "loss" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [99999]}}""", 422, "loss.targetTokens[0]" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1], "position": 2}}""", 422, "loss.position" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1]}, "autoencoders": ["nope"]}""", 422, "autoencoders[0]" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1]}, "ablations": [{"nodeType": "mlp_neuron", "layerIndex": 99, "tensorIndices": [0, 1]}]}""", 422, "ablations[0].layerIndex" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1]}, "ablations": [{"nodeType": "attention_head", "layerIndex": 0, "tensorIndices": [0, 5, 0]}]}""", 422, "ablations[0].tensorIndices[1]" },
        { """{"tokens": [1, 2], "trace": {"nodeType": "attention_head", "layerIndex": 0, "tensorIndices": [0, 1, 0], "attentionTraceType": "QK"}}""", 422, "trace.tensorIndices" },
        { """{"tokens": [1, 2], "trace": {"nodeType": "mlp_autoencoder_latent", "layerIndex": 0, "tensorIndices": [0, 1]}}""", 422, "trace.nodeType" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1]}, "groups": []}""", 422, "groups" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1]}, "topK": -1}""", 422, "topK" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1]}, "verifyTopN": 100000}""", 422, "verifyTopN" },
        { """{"tokens": [1, 2], "loss": {"name": "probs", "targetTokens": [1]}, "allowSpecial": true}""", 400, "allowSpecial" },
        { """{"tokens": [[1, 2]], "loss": {"name": "probs", "targetTokens": [1]}, "allowSpecial": true, "prependBos": true}""", 400, "allowSpecial" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task ABadRequestIsRefusedNamingTheField(string body, int status, string field)
    {
        using var response = await service.Client.PostRawAsync("/v1/attribution", body);
        var problem = await response.AssertProblemAsync((HttpStatusCode)status, field);
        if (status == 422) Assert.Equal(field, problem.GetProperty("field").GetString());
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesTheAnswerAndItsExamplesAskAboutLord()
    {
        var document = JsonNode.Parse(await service.Client.GetStringAsync("/swagger/v1/swagger.json"))!;
        var operation = document["paths"]!["/v1/attribution"]!["post"]!;
        var schema = operation["responses"]!["200"]!["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>();
        Assert.EndsWith("/AttributionResponse", schema);
        var examples = operation["requestBody"]!["content"]!["application/json"]!["examples"]!.AsObject();
        Assert.Contains("lord", examples.Select(e => e.Key));
        Assert.Equal("And the", examples["lord"]!["value"]!["prompt"]!.GetValue<string>());
        Assert.Equal(35750, examples["lord"]!["value"]!["loss"]!["targetTokens"]![0]!.GetValue<int>());
    }

    private static List<string> Keys(JsonElement rows) => rows.EnumerateArray()
        .Select(r => $"{r.GetProperty("nodeType")}/{(r.TryGetProperty("layerIndex", out var l) ? l.ToString() : "none")}/{string.Join(",", r.GetProperty("tensorIndices").EnumerateArray())}")
        .ToList();

    /// <summary>Every tensor of one sequence's answer by its path (<c>logits</c>, <c>sums/g/s</c>, <c>scalars/g/s/layer</c>).</summary>
    private static Dictionary<string, JsonElement> Tensors(JsonElement answer)
    {
        var tensors = new Dictionary<string, JsonElement>();
        if (answer.TryGetProperty("logits", out var logits)) tensors["logits"] = logits;
        foreach (var g in answer.GetProperty("sums").EnumerateObject())
            foreach (var s in g.Value.EnumerateObject()) tensors[$"sums/{g.Name}/{s.Name}"] = s.Value;
        if (answer.TryGetProperty("scalars", out var scalars))
            foreach (var g in scalars.EnumerateObject())
                foreach (var s in g.Value.EnumerateObject())
                    foreach (var l in s.Value.EnumerateObject()) tensors[$"scalars/{g.Name}/{s.Name}/{l.Name}"] = l.Value;
        return tensors;
    }
}

/// <summary>Attribution against the service's limits, and its tensors' lifetimes (serial: reads the process-wide live tensor count).</summary>
[Collection(Serial.Name)]
public sealed class AttributionLimitsTests
{
    private static JsonObject Probs(int tokens, bool dense = false) => new()
    {
        ["tokens"] = new JsonArray(Enumerable.Range(0, tokens).Select(t => (JsonNode)(t + 100)).ToArray()),
        ["loss"] = new JsonObject { ["name"] = "probs", ["targetTokens"] = new JsonArray(262) },
        ["dense"] = dense,
    };

    [Fact]
    public async Task RequestsOverTheTokenAnswerAndMemoryLimitsAreRefusedNamingTheirTokens()
    {
        var model = DefaultModelService.With(new Dictionary<string, string?>
        {
            ["Limits:MaxTokensPerRequest"] = "10", ["Limits:MaxResponseElements"] = "200000", ["Limits:MaxEngineMemoryBytes"] = "1300000",
        });
        await model.InitializeAsync();
        try
        {
            using var batch = await model.Client.PostJsonAsync("/v1/attribution", new JsonObject
            {
                ["prompts"] = new JsonArray("And the LORD said", "And God said unto Moses, I AM THAT I AM"),
                ["loss"] = new JsonObject { ["name"] = "probs", ["targetTokens"] = new JsonArray(262) },
            });
            Assert.Contains("Limits:MaxTokensPerRequest", (await batch.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "prompts")).GetProperty("detail").GetString());
            using var dense = await model.Client.PostJsonAsync("/v1/attribution", Probs(5, dense: true));
            Assert.Contains("Limits:MaxResponseElements", (await dense.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "tokens")).GetProperty("detail").GetString());
            using var small = await model.Client.PostJsonAsync("/v1/attribution", Probs(5));
            await small.OkJsonAsync();
            using var large = await model.Client.PostJsonAsync("/v1/attribution", Probs(10));
            var problem = await large.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "tokens");
            Assert.Contains("Limits:MaxEngineMemoryBytes", problem.GetProperty("detail").GetString());
        }
        finally
        {
            await model.DisposeAsync();
        }
    }

    [Fact]
    public async Task LiveTensorsReturnToTheirStartAfterAttributions()
    {
        var model = DefaultModelService.With(new Dictionary<string, string?> { ["Cache:Enabled"] = "false" });
        await model.InitializeAsync();
        try
        {
            var body = Probs(6, dense: true).With("autoencoders", new JsonArray(model.Autoencoder)).With("verifyTopN", 2);
            using (await model.Client.PostJsonAsync("/v1/attribution", body)) { } // the engine keeps write norms made on first use
            var before = await LiveTensorsAsync(model.Client);
            for (var i = 0; i < 4; i++)
            {
                using var response = await model.Client.PostJsonAsync("/v1/attribution", i % 2 == 0 ? body : Probs(3 + i));
                await response.OkJsonAsync();
            }
            Assert.Equal(before, await LiveTensorsAsync(model.Client));
        }
        finally
        {
            await model.DisposeAsync();
        }
    }

    private static async Task<long> LiveTensorsAsync(HttpClient client)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return (await (await client.GetAsync("/v1/metrics")).OkJsonAsync()).GetProperty("liveTensors").GetInt64();
    }
}
