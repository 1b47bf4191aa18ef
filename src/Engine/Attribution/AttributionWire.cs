using ReconService.Models.Tensors;
using ReconService.Models.Wire;
using TorchSharp;

namespace ReconService.Engine.Attribution;

/// <summary>
/// Maps an <see cref="AttributionResult"/> to the wire answer of <c>POST /v1/attribution</c>
/// (<see cref="AttributionResponse"/>, or <see cref="AttributionBatchResponse"/> for a batch). Tensors are encoded by the
/// caller, who gets each one with its name (<see cref="TensorName"/>) for the <c>output</c> reduction and safetensors.
/// </summary>
public static class AttributionWire
{
    /// <summary>
    /// A tensor's name in the answer: the keys on its path joined with <c>/</c> (<c>../shared/docs/api.md</c>, "Binary
    /// tensors"): <c>logits</c>, <c>sums/&lt;group&gt;/&lt;scalar&gt;</c>, <c>scalars/&lt;group&gt;/&lt;scalar&gt;/&lt;layer|none&gt;</c>,
    /// under <c>results/&lt;i&gt;/</c> in a batch answer.
    /// </summary>
    /// <param name="batched">Whether the answer is <c>{"results": [...]}</c>.</param>
    /// <param name="sequence">Index of the sequence.</param>
    /// <param name="path">The path within one sequence's answer.</param>
    public static string TensorName(bool batched, int sequence, string path) =>
        batched ? $"results/{sequence.ToString(System.Globalization.CultureInfo.InvariantCulture)}/{path}" : path;

    /// <summary>The answer: one response, or <c>{"results": [...]}</c> when the request named a batch.</summary>
    /// <param name="result">What <see cref="AttributionEngine.Run"/> returned.</param>
    /// <param name="encode">Encodes a result tensor (float32, CPU) given its name (<see cref="TensorName"/>).</param>
    public static object ToAnswer(AttributionResult result, Func<string, torch.Tensor, TensorPayload> encode) => result.Batched
        ? new AttributionBatchResponse([.. result.Results.Select((r, i) => ToResponse(r, (path, t) => encode(TensorName(true, i, path), t)))])
        : ToResponse(result.Results[0], encode);

    /// <summary>
    /// The answer for one sequence; <paramref name="encode"/> gets each tensor's path within it. A payload that comes back
    /// with top-k <see cref="TensorPayload.Indices"/> (<c>output.topK</c>) gets them as a sibling: <c>logitsIndices</c>,
    /// and in <c>sums</c> and <c>scalars</c> the key <c>&lt;key&gt;Indices</c> beside its own (safetensors name: the path plus
    /// <c>Indices</c>, as api.md names every top-k sibling).
    /// </summary>
    public static AttributionResponse ToResponse(AttributionSequenceResult r, Func<string, torch.Tensor, TensorPayload> encode) => new(
        [.. r.Tokens], r.Loss, r.UnablatedLoss, r.TracedValue,
        r.Logits is null ? null : encode("logits", r.Logits),
        [.. r.NodeTable.Select(Node)],
        r.Sums.ToDictionary(g => g.Key, g => WithIndices(g.Value, (s, t) => encode($"sums/{g.Key}/{s}", t))),
        r.Scalars?.ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, IReadOnlyDictionary<string, TensorPayload>>)g.Value.ToDictionary(
            s => s.Key, s => WithIndices(s.Value, (l, t) => encode($"scalars/{g.Key}/{s.Key}/{l}", t)))),
        r.Verification?.Select(v => new AttributionVerification(v.Node.NodeType, v.Node.LayerIndex, v.Node.TensorIndices, v.Node.Autoencoder, v.Node.Values,
            v.ActTimesGrad, v.EstimatedChange, v.ExactChange, v.AblatedValue)).ToArray());

    /// <summary>Each tensor encoded under its key, and its top-k indices (when it has them) under <c>&lt;key&gt;Indices</c>.</summary>
    private static IReadOnlyDictionary<string, TensorPayload> WithIndices<TTensors>(TTensors tensors, Func<string, torch.Tensor, TensorPayload> encode)
        where TTensors : IEnumerable<KeyValuePair<string, torch.Tensor>>
    {
        var encoded = new Dictionary<string, TensorPayload>();
        foreach (var (key, tensor) in tensors)
        {
            var payload = encode(key, tensor);
            encoded[key] = payload;
            if (payload.Indices is { } indices) encoded[key + "Indices"] = indices;
        }
        return encoded;
    }

    private static AttributionNode Node(AttributionNodeRow row) => new(row.NodeType, row.LayerIndex, row.TensorIndices, row.Autoencoder, row.Values);
}
