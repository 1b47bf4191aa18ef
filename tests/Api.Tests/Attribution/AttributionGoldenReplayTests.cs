using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Golden;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Attribution;

/// <summary>
/// Every case of <c>&lt;golden&gt;/attribution</c> (TDB's activation server: node tables, ablations, traces) sent to
/// <c>POST /v1/attribution</c> of the service on the golden model and autoencoders, dense, and compared at
/// <c>|a - e| &lt;= 1e-5 + 1e-4 |e|</c> on every value: loss, unablated loss, traced value, logits, every derived scalar
/// of every layer (latents and error nodes included), the intermediate sums, and the node table.
/// </summary>
public sealed class AttributionGoldenReplayTests(GoldenReplayTests.Service service) : IClassFixture<GoldenReplayTests.Service>
{
    public static TheoryData<string, string> Cases() => AttributionGoldenCases.All();

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public async Task AttributionCaseMatchesTdbOverHttp(string id, string description)
    {
        AttributionGoldenCases.SkipUnlessAvailable();
        Assert.NotNull(description);
        var golden = AttributionGoldenCases.Load();
        var c = golden.Cases[id];
        using var response = await service.Client.PostJsonAsync("/v1/attribution", AttributionGoldenCases.Request(golden, c));
        var r = await response.OkJsonAsync();

        Scalar("loss", c, "loss", r, "loss");
        if (c.TryGetProperty("unablated_loss", out _)) Scalar("unablated loss", c, "unablated_loss", r, "unablatedLoss");
        if (c.TryGetProperty("activation_value_for_backward_pass", out _)) Scalar("traced value", c, "activation_value_for_backward_pass", r, "tracedValue");
        if (c.TryGetProperty("logits", out var logits) && logits.ValueKind == JsonValueKind.String)
            AttributionGoldenCases.AssertClose(golden.Tensors[logits.GetString()!], r.GetProperty("logits"), $"{id} logits");
        foreach (var field in new[] { "dsts", "error_node_dsts" })
        {
            if (!c.TryGetProperty(field, out var dsts)) continue;
            foreach (var group in dsts.EnumerateObject())
                foreach (var dst in group.Value.EnumerateObject())
                    foreach (var layer in dst.Value.EnumerateObject())
                    {
                        Assert.True(r.GetProperty("scalars").GetProperty(group.Name).TryGetProperty(dst.Name, out var byLayer),
                            $"{id}: no scalar {group.Name}/{dst.Name}");
                        AttributionGoldenCases.AssertClose(golden.Tensors[layer.Value.GetString()!], byLayer.GetProperty(layer.Name),
                            $"{id} {group.Name}/{dst.Name}/{layer.Name}");
                    }
        }
        foreach (var field in new[] { "intermediate_sums", "intermediate_sums_component_sums_for_token_display" })
        {
            if (!c.TryGetProperty(field, out var sums)) continue;
            foreach (var group in sums.EnumerateObject())
                foreach (var dst in group.Value.EnumerateObject())
                    AttributionGoldenCases.AssertClose(golden.Tensors[dst.Value.GetString()!], r.GetProperty("sums").GetProperty(group.Name).GetProperty(dst.Name),
                        $"{id} sum {group.Name}/{dst.Name}");
        }
        if (c.TryGetProperty("node_table_top_k", out var table) && table.ValueKind == JsonValueKind.Object) NodeTableMatches(id, table, r);
    }

    /// <summary>
    /// Every node TDB lists is in the table with TDB's value in every group, unless TDB picked it among equal values (then
    /// another node of the same kind with that value stands in); apart from error nodes (beyond TDB) as many rows as TDB's.
    /// </summary>
    private static void NodeTableMatches(string id, JsonElement table, JsonElement r)
    {
        var nodes = table.GetProperty("node_indices").EnumerateArray().ToList();
        var values = table.GetProperty("activations_by_group_id").EnumerateObject()
            .ToDictionary(g => g.Name, g => g.Value.EnumerateArray().Select(v => v.GetDouble()).ToList());
        var rows = r.GetProperty("nodeTable").EnumerateArray().ToList();
        var ours = rows.ToDictionary(Key);
        var theirs = nodes.Select(Key).ToHashSet();
        for (var i = 0; i < nodes.Count; i++)
        {
            if (ours.TryGetValue(Key(nodes[i]), out var row))
            {
                foreach (var (group, byNode) in values) Near($"{id} node {Key(nodes[i])} {group}", byNode[i], row.GetProperty("values").GetProperty(group).GetDouble());
                continue;
            }
            var type = nodes[i].GetProperty("node_type").GetString();
            var swapped = rows.Any(o => !theirs.Contains(Key(o)) && o.GetProperty("nodeType").GetString() == type
                && values.Any(g => Math.Abs(o.GetProperty("values").GetProperty(g.Key).GetDouble() - g.Value[i]) <= 1e-5 + 1e-4 * Math.Abs(g.Value[i])));
            Assert.True(swapped, $"{id}: TDB's node {Key(nodes[i])} is missing and no node of equal value replaces it");
        }
        Assert.Equal(nodes.Count, rows.Count(o => !o.GetProperty("nodeType").GetString()!.EndsWith("_error", StringComparison.Ordinal)));
    }

    /// <summary><c>type/layer/indices</c> of a TDB node (snake case) or a row of ours (camel case).</summary>
    private static string Key(JsonElement n)
    {
        var type = (n.TryGetProperty("node_type", out var t) ? t : n.GetProperty("nodeType")).GetString();
        var hasLayer = n.TryGetProperty("layer_index", out var layer) || n.TryGetProperty("layerIndex", out layer);
        var layerText = hasLayer && layer.ValueKind == JsonValueKind.Number ? layer.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture) : "none";
        var indices = (n.TryGetProperty("tensor_indices", out var ti) ? ti : n.GetProperty("tensorIndices")).EnumerateArray().Select(i => i.GetInt64());
        return $"{type}/{layerText}/{string.Join(",", indices)}";
    }

    private static void Scalar(string what, JsonElement c, string expectedField, JsonElement r, string actualField)
    {
        var expected = c.GetProperty(expectedField);
        var present = r.TryGetProperty(actualField, out var actual) && actual.ValueKind == JsonValueKind.Number;
        if (expected.ValueKind == JsonValueKind.Null)
        {
            Assert.False(present, $"{what}: expected none, got {actual}");
            return;
        }
        Assert.True(present, $"{what}: expected {expected}, got none");
        Near(what, expected.GetDouble(), actual.GetDouble());
    }

    private static void Near(string what, double expected, double actual) =>
        Assert.True(Math.Abs(actual - expected) <= 1e-5 + 1e-4 * Math.Abs(expected), $"{what}: expected {expected}, got {actual}");
}

/// <summary>The attribution golden set (<c>&lt;golden&gt;/attribution</c>), read once, and its cases as HTTP requests.</summary>
public sealed class AttributionGoldenCases
{
    private static readonly Lazy<AttributionGoldenCases> Instance = new(() => new AttributionGoldenCases(Dir));

    private static string Dir => Path.Combine(RepoPaths.GoldenDir, "attribution");

    private AttributionGoldenCases(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "cases.json")));
        Cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToDictionary(c => c.GetProperty("id").GetString()!, c => c.Clone());
        Tensors = SafeTensors.Read(Path.Combine(dir, "tensors.safetensors"));
    }

    /// <summary>Whether the set is there, with the golden model and autoencoders it was made from.</summary>
    public static bool Available => File.Exists(Path.Combine(Dir, "cases.json")) && GoldenCases.Available;

    /// <summary>Skips the calling test, naming the folder, when the set is absent.</summary>
    public static void SkipUnlessAvailable() =>
        Skip.IfNot(Available, $"the attribution golden set is not at {Dir} (../shared/golden/attribution beside the repository, or under RECON_GOLDEN_DIR)");

    public static AttributionGoldenCases Load() => Instance.Value;

    public IReadOnlyDictionary<string, JsonElement> Cases { get; }
    public IReadOnlyDictionary<string, StoredTensor> Tensors { get; }

    /// <summary>(id, "kind name") of every case; one row that skips when the set is absent.</summary>
    public static TheoryData<string, string> All()
    {
        var data = new TheoryData<string, string>();
        if (!Available)
        {
            data.Add("attribution golden set absent", "none");
            return data;
        }
        foreach (var (id, c) in Load().Cases)
        {
            var name = c.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : c.GetProperty("sequence").GetString();
            data.Add(id, $"{c.GetProperty("kind").GetString()} {name}");
        }
        return data;
    }

    /// <summary>The request TDB's UI sent for case <paramref name="c"/>, in our wire form: every group, dense, the case's top k.</summary>
    public static JsonObject Request(AttributionGoldenCases golden, JsonElement c)
    {
        var p = c.GetProperty("params");
        var tokens = golden.Tensors[c.GetProperty("tokens").GetString()!];
        var ids = Enumerable.Range(0, tokens.Bytes.Length / 8).Select(i => (JsonNode)(int)BitConverter.ToInt64(tokens.Bytes, i * 8)).ToArray();
        var body = new JsonObject
        {
            ["tokens"] = new JsonArray(ids),
            ["dense"] = true,
            ["outputEncoding"] = "list",
            ["topK"] = p.TryGetProperty("top_and_bottom_k_for_node_table", out var k) && k.ValueKind == JsonValueKind.Number ? k.GetInt32() : 10,
        };
        if (p.TryGetProperty("loss_fn", out var loss) && loss.ValueKind == JsonValueKind.Object)
        {
            var l = new JsonObject
            {
                ["name"] = loss.GetProperty("name").GetString(),
                ["targetTokens"] = Ints(loss.GetProperty("target_tokens")),
                ["position"] = loss.TryGetProperty("position", out var position) ? position.GetInt32() : -1,
            };
            if (loss.TryGetProperty("distractor_tokens", out var distractors)) l["distractorTokens"] = Ints(distractors);
            body["loss"] = l;
        }
        if (p.TryGetProperty("trace_config", out var trace) && trace.ValueKind == JsonValueKind.Object)
        {
            var t = new JsonObject
            {
                ["nodeType"] = trace.GetProperty("node_type").GetString(),
                ["layerIndex"] = trace.GetProperty("layer_index").GetInt32(),
                ["tensorIndices"] = new JsonArray(trace.GetProperty("tensor_indices").EnumerateArray().Select(i => (JsonNode)i.GetInt64()).ToArray()),
            };
            if (trace.TryGetProperty("attention_trace_type", out var type) && type.ValueKind == JsonValueKind.String) t["attentionTraceType"] = type.GetString();
            body["trace"] = t;
        }
        if (p.TryGetProperty("autoencoders", out var aes) && aes.ValueKind == JsonValueKind.Array)
            body["autoencoders"] = new JsonArray(aes.EnumerateArray().Select(a => (JsonNode)a.GetString()!).ToArray());
        if (p.TryGetProperty("ablation_specs", out var specs) && specs.ValueKind == JsonValueKind.Array)
        {
            var ablations = new JsonArray();
            // The final layer norm's backward ablation TDB's UI adds is detachLayerNormScale (default true).
            foreach (var a in specs.EnumerateArray().Where(a => a.GetProperty("pass_type").GetString() == "forward"))
                ablations.Add(new JsonObject
                {
                    ["nodeType"] = a.GetProperty("activation_location_type").GetString() switch
                    {
                        "mlp.post_act" => "mlp_neuron",
                        "attn.qk_probs" => "attention_head",
                        "online_mlp_autoencoder_latent" => "mlp_autoencoder_latent",
                        "online_attention_autoencoder_latent" => "attention_autoencoder_latent",
                        var other => throw new InvalidDataException($"ablation location {other}"),
                    },
                    ["layerIndex"] = a.GetProperty("layer_index").GetInt32(),
                    ["tensorIndices"] = new JsonArray(a.GetProperty("tensor_indices").EnumerateArray()
                        .Select(i => i.ValueKind == JsonValueKind.String ? (JsonNode)"All" : i.GetInt64()).ToArray()),
                    ["value"] = a.GetProperty("value").GetDouble(),
                });
            if (ablations.Count > 0) body["ablations"] = ablations;
        }
        return body;
    }

    private static JsonArray Ints(JsonElement list) => new(list.EnumerateArray().Select(i => (JsonNode)i.GetInt32()).ToArray());

    /// <summary>A tensor payload of the answer against a stored expected tensor, elementwise at the golden tolerance.</summary>
    public static void AssertClose(StoredTensor expected, JsonElement payload, string what)
    {
        var (shape, actual) = Wire.ReadTensor(payload);
        Assert.True(expected.Shape.SequenceEqual(shape), $"{what}: shape [{string.Join(", ", shape)}], expected [{string.Join(", ", expected.Shape)}]");
        var e = expected.Floats();
        var failures = 0;
        var first = "";
        for (var i = 0; i < e.Length; i++)
        {
            if (float.IsFinite(actual[i]) && Math.Abs(actual[i] - e[i]) <= 1e-5 + 1e-4 * Math.Abs(e[i])) continue;
            if (failures++ == 0) first = $"element {i}: got {actual[i]}, expected {e[i]}";
        }
        Assert.True(failures == 0, $"{what}: {failures} of {e.Length} elements out of tolerance; first at {first}");
    }
}
