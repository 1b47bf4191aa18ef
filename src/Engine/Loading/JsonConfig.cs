using System.Text.Json;

namespace ReconService.Engine.Loading;

/// <summary>A parsed JSON configuration file (<c>config.json</c>, <c>cfg.json</c>) whose errors name the file and the key.</summary>
internal sealed class JsonConfig
{
    private readonly JsonElement _root;

    private JsonConfig(string path, JsonElement root) { Path = path; _root = root; }

    /// <summary>The file the configuration came from.</summary>
    public string Path { get; }

    /// <summary>Reads and parses <paramref name="path"/>; its top level must be a JSON object.</summary>
    /// <exception cref="WeightLoadException">The file is missing, not JSON, or not an object.</exception>
    public static JsonConfig Read(string path)
    {
        if (!File.Exists(path)) throw new WeightLoadException(path, "missing file");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new WeightLoadException(path, "expected a JSON object at the top level");
            return new JsonConfig(path, document.RootElement.Clone());
        }
        catch (JsonException e)
        {
            throw new WeightLoadException(path, $"not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Every key of the object, in file order.</summary>
    public IEnumerable<string> Keys => _root.EnumerateObject().Select(p => p.Name).ToList();

    /// <summary>The JSON kind of the value under <paramref name="key"/>; <see cref="JsonValueKind.Undefined"/> when absent.</summary>
    public JsonValueKind KindOf(string key) => _root.TryGetProperty(key, out var value) ? value.ValueKind : JsonValueKind.Undefined;

    /// <summary>The raw JSON text under <paramref name="key"/>, for messages; empty when absent.</summary>
    public string Raw(string key) => _root.TryGetProperty(key, out var value) ? value.GetRawText() : "";

    /// <summary>True when <paramref name="key"/> is present and not null.</summary>
    public bool Has(string key) => _root.TryGetProperty(key, out var value) && value.ValueKind != JsonValueKind.Null;

    /// <summary>The integer under <paramref name="key"/>.</summary>
    /// <exception cref="WeightLoadException">Missing, or not an integer.</exception>
    public int Int(string key) => IntOrNull(key) ?? throw new WeightLoadException(Path, $"missing key '{key}'");

    /// <summary>The integer under <paramref name="key"/>, or null when absent.</summary>
    /// <exception cref="WeightLoadException">Present but not an integer.</exception>
    public int? IntOrNull(string key)
    {
        if (!Has(key)) return null;
        var value = _root.GetProperty(key);
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var result))
            throw new WeightLoadException(Path, $"key '{key}' must be an integer, got {value.GetRawText()}");
        return result;
    }

    /// <summary>The number under <paramref name="key"/>, or <paramref name="fallback"/> when absent.</summary>
    /// <exception cref="WeightLoadException">Present but not a number.</exception>
    public double Double(string key, double fallback)
    {
        if (!Has(key)) return fallback;
        var value = _root.GetProperty(key);
        if (value.ValueKind != JsonValueKind.Number)
            throw new WeightLoadException(Path, $"key '{key}' must be a number, got {value.GetRawText()}");
        return value.GetDouble();
    }

    /// <summary>The string under <paramref name="key"/>, or null when absent.</summary>
    /// <exception cref="WeightLoadException">Present but not a string.</exception>
    public string? StringOrNull(string key)
    {
        if (!Has(key)) return null;
        var value = _root.GetProperty(key);
        if (value.ValueKind != JsonValueKind.String)
            throw new WeightLoadException(Path, $"key '{key}' must be a string, got {value.GetRawText()}");
        return value.GetString();
    }

    /// <summary>The boolean under <paramref name="key"/>, or <paramref name="fallback"/> when absent.</summary>
    /// <exception cref="WeightLoadException">Present but not a boolean.</exception>
    public bool Bool(string key, bool fallback)
    {
        if (!Has(key)) return fallback;
        var value = _root.GetProperty(key);
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new WeightLoadException(Path, $"key '{key}' must be true or false, got {value.GetRawText()}"),
        };
    }

    /// <summary>The object under <paramref name="key"/> as a configuration of its own, or null when absent.</summary>
    /// <exception cref="WeightLoadException">Present but not an object.</exception>
    public JsonConfig? ObjectOrNull(string key)
    {
        if (!Has(key)) return null;
        var value = _root.GetProperty(key);
        if (value.ValueKind != JsonValueKind.Object)
            throw new WeightLoadException(Path, $"key '{key}' must be an object, got {value.GetRawText()}");
        return new JsonConfig(Path, value);
    }
}
