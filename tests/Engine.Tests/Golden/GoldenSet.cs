using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;

namespace ReconService.Engine.Tests.Golden;

/// <summary>The golden folder: its cases and tensors, read once per test run.</summary>
internal sealed class GoldenSet
{
    private static readonly Lazy<GoldenSet> Shared = new(() => new GoldenSet(TestPaths.GoldenDir));

    private GoldenSet(string dir)
    {
        Dir = dir;
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "cases.json")))!;
        Cases = root["cases"]!.AsArray().Select(c => c!.AsObject()).ToDictionary(c => (string)c["id"]!);
        using var scope = torch.NewDisposeScope();
        Tensors = TorchSharp.PyBridge.Safetensors.LoadStateDict(Path.Combine(dir, "tensors.safetensors"))
            .ToDictionary(t => t.Key, t => t.Value.DetachFromDisposeScope());
        AutoencoderNames = Directory.Exists(Path.Combine(dir, "sae"))
            ? Directory.GetDirectories(Path.Combine(dir, "sae")).Select(d => Path.GetFileName(d)!).Order().ToList()
            : [];
    }

    public static GoldenSet Instance => Shared.Value;

    /// <summary>Whether the golden set is there (<c>cases.json</c> in <see cref="TestPaths.GoldenDir"/>).</summary>
    public static bool Available => File.Exists(Path.Combine(TestPaths.GoldenDir, "cases.json"));

    /// <summary>Skips the calling test, naming the folder, when the golden set is absent.</summary>
    public static void SkipUnlessAvailable() =>
        Skip.IfNot(Available, $"the golden set is not at {TestPaths.GoldenDir} (../shared/golden beside the repository, or RECON_GOLDEN_DIR)");

    public string Dir { get; }
    public IReadOnlyDictionary<string, JsonObject> Cases { get; }
    public IReadOnlyDictionary<string, torch.Tensor> Tensors { get; }
    public IReadOnlyList<string> AutoencoderNames { get; }

    /// <summary>Each case id with its kind, for theory data.</summary>
    public static TheoryData<string, string> CaseIds()
    {
        var data = new TheoryData<string, string>();
        if (!Available) data.Add("golden set absent", "none"); // one row, which skips with the reason
        else foreach (var (id, c) in Instance.Cases) data.Add(id, (string)c["kind"]!);
        return data;
    }

    public static T Enum<T>(JsonNode? node) where T : struct, System.Enum => JsonSerializer.Deserialize<T>(node!.ToJsonString());
}
