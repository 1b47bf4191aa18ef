using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace ReconService.Models.Tensors.Safetensors;

/// <summary>
/// Encodes an answer as one safetensors file (<c>Accept: application/x-safetensors</c>; <c>../shared/docs/api.md</c>,
/// "Binary tensors"): each tensor of the JSON answer is stored under the keys on its path joined with <c>/</c>
/// (<c>activations</c>, <c>activationsIndices</c>, <c>captured/resid.post_attn/0</c>,
/// <c>scalars/act_times_grad/mlp_act_times_grad/0</c>); everything else is the JSON answer itself, as text in
/// <c>__metadata__["json"]</c>, with <c>{"tensor": "&lt;name&gt;"}</c> in each tensor's place.
/// </summary>
/// <remarks>
/// <para>The answer is serialized with the caller's JSON options, so field names, enum spellings and omitted nulls are
/// those of the JSON answer. Objects and dictionaries contribute their keys to a path; an array contributes the
/// element's index (<c>items/0/tensor</c>); so an answer whose tensors sit in arrays should key them by name instead
/// where the contract names them (forward's <c>captured/&lt;location&gt;/&lt;layer or none&gt;</c>).</para>
/// <para>This is the pipeline's <b>encode</b> step for safetensors answers: build the answer record as for JSON, then
/// <c>await SafetensorsAnswer.Encode(answer, options, describe, nameOf).WriteToAsync(response.Body)</c>, with
/// <c>Content-Length</c> set to <see cref="SafetensorsFile.Length"/>. A tensor that knows its own name (the engine's
/// output name) is stored under it, so that tensors in lists get the contract's names.</para>
/// </remarks>
public static class SafetensorsAnswer
{
    private const string Marker = "\u0001tensor#";
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly ConditionalWeakTable<JsonSerializerOptions, Dictionary<Type, JsonSerializerOptions>> Derived = new();

    /// <summary>Lays out <paramref name="answer"/> as a safetensors file.</summary>
    /// <typeparam name="TTensor">The type that holds tensors in the answer records (e.g. the wire tensor payload).</typeparam>
    /// <param name="answer">The answer record, exactly what the JSON answer would serialize.</param>
    /// <param name="options">The JSON options of the JSON answers.</param>
    /// <param name="describe">The bytes, dtype and shape of one tensor, from its own memory (no copy).</param>
    /// <param name="nameOf">A tensor's own name when it has one (forward's <c>captured/&lt;location&gt;/&lt;layer&gt;</c>, which sit in a
    /// list in the JSON answer); null to name it by its path.</param>
    /// <exception cref="InvalidOperationException">A key on a tensor's path contains <c>/</c>.</exception>
    /// <exception cref="ArgumentException">Two tensors of the same name.</exception>
    public static SafetensorsFile Encode<TTensor>(object answer, JsonSerializerOptions options, Func<TTensor, TensorBytes> describe,
        Func<TTensor, string?>? nameOf = null)
        where TTensor : class
    {
        var collected = new List<TTensor>();
        JsonNode? json;
        var previous = PlaceholderConverter<TTensor>.Collected;
        PlaceholderConverter<TTensor>.Collected = collected;
        try
        {
            json = JsonSerializer.SerializeToNode(answer, answer.GetType(), OptionsFor<TTensor>(options));
        }
        finally
        {
            PlaceholderConverter<TTensor>.Collected = previous;
        }
        var tensors = new List<KeyValuePair<string, TensorBytes>>(collected.Count);
        Name(json, [], collected, describe, nameOf, tensors);
        var metadata = new Dictionary<string, string> { [SafetensorsMediaType.AnswerJsonKey] = json?.ToJsonString(Relaxed) ?? "null" };
        return SafetensorsFile.Create(tensors, metadata);
    }

    private static void Name<TTensor>(JsonNode? node, List<string> path, List<TTensor> collected, Func<TTensor, TensorBytes> describe,
        Func<TTensor, string?>? nameOf, List<KeyValuePair<string, TensorBytes>> tensors)
    {
        switch (node)
        {
            case JsonObject obj when obj.Count == 1 && obj["tensor"] is JsonValue v && v.TryGetValue<string>(out var s) && s.StartsWith(Marker, StringComparison.Ordinal):
                var tensor = collected[int.Parse(s.AsSpan(Marker.Length), provider: System.Globalization.CultureInfo.InvariantCulture)];
                var name = nameOf?.Invoke(tensor) ?? string.Join('/', path);
                tensors.Add(new(name, describe(tensor)));
                obj["tensor"] = name;
                break;
            case JsonObject obj:
                foreach (var (key, child) in obj.ToArray())
                {
                    if (key.Contains('/')) throw new InvalidOperationException($"answer key '{key}' contains '/', which tensor names use as the separator");
                    path.Add(key);
                    Name(child, path, collected, describe, nameOf, tensors);
                    path.RemoveAt(path.Count - 1);
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    path.Add(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    Name(array[i], path, collected, describe, nameOf, tensors);
                    path.RemoveAt(path.Count - 1);
                }
                break;
        }
    }

    private static JsonSerializerOptions OptionsFor<TTensor>(JsonSerializerOptions options)
    {
        var byType = Derived.GetValue(options, _ => []);
        lock (byType)
        {
            if (!byType.TryGetValue(typeof(TTensor), out var derived))
            {
                derived = new JsonSerializerOptions(options);
                derived.Converters.Insert(0, new PlaceholderConverter<TTensor>());
                derived.MakeReadOnly(populateMissingResolver: true);
                byType[typeof(TTensor)] = derived;
            }
            return derived;
        }
    }

    /// <summary>Writes <c>{"tensor": "&lt;marker&gt;&lt;n&gt;"}</c> for the n-th tensor met on this thread's current encode.</summary>
    private sealed class PlaceholderConverter<TTensor> : JsonConverter<TTensor>
    {
        [ThreadStatic] internal static List<TTensor>? Collected;

        public override TTensor Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("placeholders are written, never read");

        public override void Write(Utf8JsonWriter writer, TTensor value, JsonSerializerOptions options)
        {
            var collected = Collected ?? throw new InvalidOperationException("tensor placeholders are written only inside SafetensorsAnswer.Encode");
            writer.WriteStartObject();
            writer.WriteString("tensor", Marker + collected.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            writer.WriteEndObject();
            collected.Add(value);
        }
    }
}
