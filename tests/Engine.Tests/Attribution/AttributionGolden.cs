using System.Text.Json.Nodes;
using ReconService.Engine.Attribution;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Models;
using ReconService.Models.Wire;
using TorchSharp;

namespace ReconService.Engine.Tests.Attribution;

/// <summary>
/// The attribution golden set (<c>&lt;golden&gt;/attribution</c>: TDB's activation server run in-process), read once,
/// and the engine it was made with: the golden model in TDB's checkpoint layout and the OpenAI/TDB <c>.pt</c>
/// autoencoders, each family named after its <c>sae/</c> folder.
/// </summary>
internal sealed class AttributionGolden
{
    private static readonly Lazy<AttributionGolden?> Shared = new(() =>
        Directory.Exists(TestPaths.Golden("attribution")) ? new AttributionGolden(TestPaths.Golden("attribution")) : null);

    private AttributionGolden(string dir)
    {
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "cases.json")))!;
        Cases = root["cases"]!.AsArray().Select(c => c!.AsObject()).ToDictionary(c => (string)c["id"]!);
        using var scope = torch.NewDisposeScope();
        Tensors = TorchSharp.PyBridge.Safetensors.LoadStateDict(Path.Combine(dir, "tensors.safetensors"))
            .ToDictionary(t => t.Key, t => t.Value.DetachFromDisposeScope());
    }

    /// <summary>The set, or null when the golden folder has no <c>attribution/</c>.</summary>
    public static AttributionGolden? Instance => Shared.Value;

    public IReadOnlyDictionary<string, JsonObject> Cases { get; }
    public IReadOnlyDictionary<string, torch.Tensor> Tensors { get; }

    /// <summary>Case ids with kind and name, for theory data (one "none" row when there is no set).</summary>
    public static TheoryData<string, string> CaseIds()
    {
        var data = new TheoryData<string, string>();
        if (Instance is null) data.Add("none", "no attribution golden set");
        else foreach (var (id, c) in Instance.Cases) data.Add(id, $"{c["kind"]} {c["name"] ?? c["sequence"]}");
        return data;
    }

    /// <summary>Loads the golden model and every autoencoder family of <c>sae/</c>, named after its folder.</summary>
    public static (Transformer Model, Dictionary<string, AutoencoderSet> Autoencoders) LoadEngineParts()
    {
        var checkpoint = ModelLoader.Load(TestPaths.Golden("model_tdb"));
        var sae = TestPaths.Golden("sae");
        var sets = Directory.Exists(sae)
            ? Directory.GetDirectories(sae).Select(d => Path.GetFileName(d)!).Order()
                .Select(name => AutoencoderLoader.Load(name, Path.Combine(sae, name, "autoencoders"))).ToDictionary(s => s.Name)
            : [];
        return (new Transformer(checkpoint), sets);
    }

    /// <summary>The spec TDB's request for case <paramref name="c"/> amounts to (every group, dense, the case's top k).</summary>
    public AttributionSpec Spec(JsonObject c)
    {
        var p = c["params"]!.AsObject();
        var tokens = Tensors[(string)c["tokens"]!].data<long>().Select(t => (int)t).ToList();
        return new AttributionSpec
        {
            Sequences = [tokens],
            Loss = p["loss_fn"] is JsonObject loss ? Loss(loss) : null,
            Trace = p["trace_config"] is JsonObject trace ? Trace(trace) : null,
            Autoencoders = p["autoencoders"]?.AsArray().Select(a => (string)a!).ToList() ?? [],
            Ablations = p["ablation_specs"]?.AsArray().Select(a => a!.AsObject())
                .Where(a => (string)a["pass_type"]! == "forward").Select(Ablation).ToList() ?? [],
            TopK = (int?)p["top_and_bottom_k_for_node_table"] ?? 10,
            Dense = true,
            // TDB's UI always detaches the final layer norm's scale (a backward ablation); traces detach their node's own.
            DetachLayerNormScale = true,
        };
    }

    private static AttributionLossSpec Loss(JsonObject loss) => new(
        (string)loss["name"]! switch { "logit_diff" => AttributionLossName.LogitDiff, "probs" => AttributionLossName.Probs, var n => throw new InvalidDataException(n) },
        Ints(loss["target_tokens"]), Ints(loss["distractor_tokens"]), (int?)loss["position"] ?? -1);

    private static AttributionTraceSpec Trace(JsonObject t) => new(
        GoldenNodeType((string)t["node_type"]!), (int)t["layer_index"]!,
        t["tensor_indices"]!.AsArray().Select(i => (long)i!).ToList(),
        t["attention_trace_type"] is { } type ? Enum.Parse<AttributionTraceType>((string)type!) : null);

    private static AttributionAblationSpec Ablation(JsonObject a)
    {
        var nodeType = (string)a["activation_location_type"]! switch
        {
            "mlp.post_act" => NodeType.MlpNeuron,
            "attn.qk_probs" => NodeType.AttentionHead,
            "online_mlp_autoencoder_latent" => NodeType.MlpAutoencoderLatent,
            "online_attention_autoencoder_latent" => NodeType.AttentionAutoencoderLatent,
            var other => throw new InvalidDataException($"ablation location {other}"),
        };
        var indices = a["tensor_indices"]!.AsArray().Select(i => i!.GetValueKind() == System.Text.Json.JsonValueKind.String ? null : (long?)(long)i).ToList();
        return new AttributionAblationSpec(nodeType, (int)a["layer_index"]!, indices, (double)a["value"]!);
    }

    private static NodeType GoldenNodeType(string name) => GoldenSetEnum<NodeType>(name);

    private static T GoldenSetEnum<T>(string name) where T : struct, Enum =>
        System.Text.Json.JsonSerializer.Deserialize<T>($"\"{name}\"");

    private static List<int> Ints(JsonNode? node) => node?.AsArray().Select(i => (int)i!).ToList() ?? [];
}
