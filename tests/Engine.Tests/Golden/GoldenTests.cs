using System.Text.Json.Nodes;
using ReconService.Engine.Hooks;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Golden;

/// <summary>
/// Replays every case of the golden folder's <c>cases.json</c> (TDB's own results) through the engine, with the
/// model and autoencoders loaded from each layout pair, at <c>|a - e| &lt;= 1e-5 + 1e-4 |e|</c>, -inf identical.
/// </summary>
public sealed class GoldenTests(GoldenEngines engines) : IClassFixture<GoldenEngines>
{
    public static TheoryData<string, string, GoldenLayout> Cases()
    {
        var data = new TheoryData<string, string, GoldenLayout>();
        foreach (var layout in System.Enum.GetValues<GoldenLayout>())
            foreach (var row in GoldenSet.CaseIds()) data.Add((string)row[0], (string)row[1], layout);
        return data;
    }

    public static TheoryData<string, GoldenLayout> ForwardTensors()
    {
        var data = new TheoryData<string, GoldenLayout>();
        if (!GoldenSet.Available)
        {
            data.Add("golden set absent", GoldenLayout.HuggingFaceWithOpenAiAutoencoders);
            return data;
        }
        foreach (var layout in System.Enum.GetValues<GoldenLayout>())
            foreach (var name in GoldenSet.Instance.Tensors.Keys.Where(k => k.StartsWith("forward.", StringComparison.Ordinal)).Order())
                data.Add(name, layout);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void CaseMatchesReference(string id, string kind, GoldenLayout layout)
    {
        GoldenSet.SkipUnlessAvailable();
        var golden = GoldenSet.Instance;
        var c = golden.Cases[id];
        var p = c["params"]!.AsObject();
        var engine = engines[layout];
        var resid = golden.Tensors[(string)c["resid"]!];
        var expected = golden.Tensors[(string)c["expected"]!];
        using var scope = NewDisposeScope();
        int Layer() => (int)p["layer_index"]!;
        bool Detach() => (bool)p["detach_layer_norm_scale"]!;
        switch (kind)
        {
            case "activation":
                TensorAssert.Close(expected, engine.Activations(resid, Spec(p)));
                break;
            case "gradient":
                var indices = c["tensor_indices"]!.AsArray().Select(i => (long)i!).ToList();
                TensorAssert.Close(expected, engine.Gradient(resid, Spec(p), indices));
                break;
            case "jvp":
                TensorAssert.Close(expected, engine.Jvp(resid, Spec(p), golden.Tensors[(string)c["write_vector"]!]));
                break;
            case "resid_delta_attn":
                TensorAssert.Close(expected, engine.ResidDeltaAttn(resid, Layer(), Detach()));
                break;
            case "resid_delta_mlp":
                TensorAssert.Close(expected, engine.ResidDeltaMlp(resid, Layer(), Detach()));
                break;
            case "attn_and_v":
                var (attention, values) = engine.AttentionValues(resid, Layer(), Detach());
                TensorAssert.Close(expected, values);
                TensorAssert.Close(golden.Tensors[(string)c["attn_expected"]!], attention);
                break;
            case "logits":
                TensorAssert.Close(expected, engine.Logits(resid, Detach()));
                break;
            case "logprobs":
                TensorAssert.Close(expected, engine.Logprobs(resid, Detach()));
                break;
            case "apply_autoencoder":
                TensorAssert.Close(expected, engine.Encode((string)p["autoencoder"]!, resid, Layer()));
                break;
            case "write_latent_gradient":
                TensorAssert.Close(expected, engine.LatentGradient((string)p["autoencoder"]!, resid, Layer(), (int)p["latent_index"]!));
                break;
            default:
                Assert.Fail($"case {id} has a kind this suite does not know: {kind}");
                break;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(ForwardTensors))]
    public void ForwardPassMatchesReference(string name, GoldenLayout layout)
    {
        GoldenSet.SkipUnlessAvailable();
        var golden = GoldenSet.Instance;
        using var scope = NewDisposeScope();
        // forward.<location with '_' for '.'>[.<layer>], e.g. forward.resid_post_attn.1, forward.logits
        var parts = name.Split('.');
        var location = ActivationLocations.All.Single(l => l.Replace('.', '_') == parts[1]);
        var layer = parts.Length > 2 ? int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) : -1;
        using var result = engines[layout].Forward(golden.Tensors["tokens"], [location]);
        var actual = location == ActivationLocations.Logits ? result.Logits : result.Captured[location][layer];
        TensorAssert.Close(golden.Tensors[name], actual);
    }

    private static ActivationSpec Spec(JsonObject p) => new(
        GoldenSet.Enum<NodeType>(p["node_type"]),
        (int)p["layer_index"]!,
        GoldenSet.Enum<PreOrPostAct>(p["pre_or_post_act"]),
        p["attention_trace_type"] is null ? null : GoldenSet.Enum<AttentionTraceType>(p["attention_trace_type"]),
        (bool)p["detach_layer_norm_scale"]!,
        (string?)p["autoencoder"]);
}
