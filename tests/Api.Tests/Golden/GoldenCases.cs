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

    /// <summary>Whether the golden set is there (<c>cases.json</c> in <see cref="RepoPaths.GoldenDir"/>).</summary>
    public static bool Available => File.Exists(Path.Combine(RepoPaths.GoldenDir, "cases.json"));

    /// <summary>Skips the calling test, naming the folder, when the golden set is absent.</summary>
    public static void SkipUnlessAvailable() =>
        Skip.IfNot(Available, $"the golden set is not at {RepoPaths.GoldenDir} (../shared/golden beside the repository, or RECON_GOLDEN_DIR)");

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
        if (!Available)
        {
            data.Add("golden set absent", "none"); // one row, which skips with the reason
            return data;
        }
        foreach (var (id, c) in Load().Cases)
            if (where is null || where(c)) data.Add(id, c.GetProperty("kind").GetString()!);
        return data;
    }
}
