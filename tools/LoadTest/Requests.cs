using System.Buffers.Binary;
using System.Text.Json.Nodes;

namespace ReconService.LoadTest;

/// <summary>Request bodies from a seed (so any one can be rebuilt for the sequential check), and reading answers.</summary>
internal static class Requests
{
    public static string Body(string endpoint, int seed, int tokens, int dModel, string encoding)
    {
        var random = new Random(seed);
        var bytes = new byte[tokens * dModel * 4];
        for (var i = 0; i < tokens * dModel; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), (float)(random.NextDouble() * 2 - 1));
        var residual = new JsonObject
        {
            ["dtype"] = "float32",
            ["shape"] = new JsonArray(tokens, dModel),
            ["data"] = Convert.ToBase64String(bytes),
        };
        var body = new JsonObject { ["residual"] = residual, ["outputEncoding"] = encoding };
        // The service refuses fields an endpoint does not take: logits and logprobs have no layer.
        if (endpoint is not ("/v1/logits" or "/v1/logprobs")) body["layerIndex"] = seed % 2;
        if (endpoint is "/v1/activations" or "/v1/gradients" or "/v1/jvp")
        {
            body["nodeType"] = "mlp_neuron";
            body["preOrPostAct"] = "post";
        }
        if (endpoint == "/v1/gradients") body["tensorIndices"] = new JsonArray(0, 0);
        return body.ToJsonString();
    }

    /// <summary>The values of the first tensor in an answer, from base64 or a nested list.</summary>
    public static float[] FirstTensor(JsonNode answer)
    {
        var payload = answer.AsObject().Select(kv => kv.Value).OfType<JsonObject>().First(o => o.ContainsKey("data"));
        var data = payload["data"]!;
        if (data is JsonValue)
        {
            var bytes = Convert.FromBase64String(data.GetValue<string>());
            var values = new float[bytes.Length / 4];
            for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
            return values;
        }
        var list = new List<float>();
        Flatten(data, list);
        return list.ToArray();
    }

    public static bool SameValues(float[] a, float[] b)
    {
        if (a.Length != b.Length) return false;
        for (var i = 0; i < a.Length; i++)
            if (!(a[i] == b[i] || (float.IsNaN(a[i]) && float.IsNaN(b[i])) || Math.Abs(a[i] - b[i]) <= 1e-6f * Math.Max(1f, Math.Abs(b[i]))))
                return false;
        return true;
    }

    private static void Flatten(JsonNode node, List<float> into)
    {
        if (node is JsonArray array)
        {
            foreach (var item in array) Flatten(item!, into);
            return;
        }
        var value = node.AsValue();
        into.Add(value.TryGetValue<string>(out var s)
            ? s switch { "NaN" => float.NaN, "Infinity" => float.PositiveInfinity, _ => float.NegativeInfinity }
            : value.GetValue<float>());
    }
}
