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

    public string Dir { get; }
    public IReadOnlyDictionary<string, JsonObject> Cases { get; }
    public IReadOnlyDictionary<string, torch.Tensor> Tensors { get; }
    public IReadOnlyList<string> AutoencoderNames { get; }

    /// <summary>Each case id with its kind, for theory data.</summary>
    public static TheoryData<string, string> CaseIds()
    {
        var data = new TheoryData<string, string>();
        foreach (var (id, c) in Instance.Cases) data.Add(id, (string)c["kind"]!);
        return data;
    }

    public static T Enum<T>(JsonNode? node) where T : struct, System.Enum => JsonSerializer.Deserialize<T>(node!.ToJsonString());
}
