using System.Reflection;
using Microsoft.Extensions.Options;
using ReconService.Api.Limits;
using ReconService.Api.Security;

namespace ReconService.Api.Configuration;

/// <summary>
/// Start-up check that every configuration key under the service's sections is one an options class binds, and that
/// no top-level section is a near miss of one of them (<c>--Modle:Path</c>): a typo stops start-up, naming the key,
/// instead of being silently ignored. <c>Serilog</c> is Serilog's own and not checked.
/// </summary>
public sealed class ConfigurationKeys
{
    /// <summary>The service's sections and the keys each accepts (<c>Autoencoders</c>: per named family).</summary>
    private static readonly Dictionary<string, Type> Sections = new(StringComparer.OrdinalIgnoreCase)
    {
        [ModelOptions.Section] = typeof(ModelOptions),
        [EngineHostOptions.Section] = typeof(EngineHostOptions),
        [AutoencodersOptions.Section] = typeof(AutoencoderEntryOptions),
        [CacheOptions.Section] = typeof(CacheOptions),
        [LimitsOptions.Section] = typeof(LimitsOptions),
        [QueueOptions.Section] = typeof(QueueOptions),
        [ApiKeyOptions.Section] = typeof(ApiKeyOptions),
        [CorsOptions.Section] = typeof(CorsOptions),
        [Hosting.DrainOptions.Section] = typeof(Hosting.DrainOptions),
        ["Viewer"] = typeof(ViewerKeys),
    };

    /// <summary>The unknown keys of <paramref name="configuration"/>, each with what was expected.</summary>
    public static IEnumerable<string> Unknown(IConfiguration configuration)
    {
        foreach (var section in configuration.GetChildren())
        {
            if (Sections.TryGetValue(section.Key, out var type))
            {
                var children = section.Key.Equals(AutoencodersOptions.Section, StringComparison.OrdinalIgnoreCase)
                    ? section.GetChildren().SelectMany(family => family.GetChildren())
                    : section.GetChildren();
                var known = Keys(type);
                foreach (var child in children.Where(c => !known.Contains(c.Key)))
                    yield return $"{child.Path} (expected one of {string.Join(", ", known.Order(StringComparer.Ordinal).Select(k => $"{ParentPath(child)}:{k}"))})";
            }
            else if (section.GetChildren().Any() && Sections.Keys.FirstOrDefault(k => Distance(k, section.Key) <= 2) is { } meant)
            {
                // Only sections with keys below them: a plain environment variable (HOME, LANG) is never one of ours.
                yield return $"{section.Key} (did you mean {meant}?)";
            }
        }
    }

    private static string ParentPath(IConfigurationSection child) => child.Path[..child.Path.LastIndexOf(':')];

    private static HashSet<string> Keys(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => p.Name)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Levenshtein distance, case-insensitive.</summary>
    internal static int Distance(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
    }

    /// <summary>The keys of <c>Viewer</c> (read by <c>UseViewer</c>, not an options class).</summary>
    private sealed class ViewerKeys
    {
        public string? Path { get; set; }
    }

    /// <summary>Fails start-up (with <c>ValidateOnStart</c>) listing the unknown keys.</summary>
    public sealed class Validator(IConfiguration configuration) : IValidateOptions<ConfigurationKeys>
    {
        /// <inheritdoc />
        public ValidateOptionsResult Validate(string? name, ConfigurationKeys options)
        {
            var unknown = Unknown(configuration).ToList();
            return unknown.Count == 0 ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail($"unknown configuration key(s): {string.Join("; ", unknown)}");
        }
    }
}
