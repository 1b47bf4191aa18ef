using System.Text.Json;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Golden;

/// <summary>The golden folder's cases and tensors, read once.</summary>
public sealed class GoldenCases
{
    private static readonly Lazy<GoldenCases> Instance = new(() => new GoldenCases(RepoPaths.GoldenDir));

    private GoldenCases(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "cases.json")));
        Cases = doc.RootElement.GetProperty("cases").EnumerateArray()
            .ToDictionary(c => c.GetProperty("id").GetString()!, c => c.Clone());
        Tensors = SafeTensors.Read(Path.Combine(dir, "tensors.safetensors"));
    }

    /// <summary>The shared instance.</summary>
    public static GoldenCases Load() => Instance.Value;

    /// <summary>Case objects by id.</summary>
    public IReadOnlyDictionary<string, JsonElement> Cases { get; }

    /// <summary>Every tensor of <c>tensors.safetensors</c>.</summary>
    public IReadOnlyDictionary<string, StoredTensor> Tensors { get; }

    /// <summary>(id, kind) of every case, for xunit.</summary>
    public static TheoryData<string, string> All(Func<JsonElement, bool>? where = null)
    {
        var data = new TheoryData<string, string>();
        foreach (var (id, c) in Load().Cases)
            if (where is null || where(c)) data.Add(id, c.GetProperty("kind").GetString()!);
        return data;
    }
}
