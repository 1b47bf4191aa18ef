using ReconService.Models.Tensors;
using ReconService.Models.Wire;
using TorchSharp;

namespace ReconService.Engine.Attribution;

/// <summary>
/// Maps an <see cref="AttributionResult"/> to the wire answer of <c>POST /v1/attribution</c>
/// (<see cref="AttributionResponse"/>, or <see cref="AttributionBatchResponse"/> for a batch). Tensors are encoded by the
/// caller, who gets each one with its path (<c>logits</c>, <c>sums/&lt;group&gt;/&lt;scalar&gt;</c>,
/// <c>scalars/&lt;group&gt;/&lt;scalar&gt;/&lt;layer&gt;</c>) for the <c>output</c> reduction and safetensors names.
/// </summary>
public static class AttributionWire
{
    /// <summary>The answer: one response, or <c>{"results": [...]}</c> when the request named a batch.</summary>
    /// <param name="result">What <see cref="AttributionEngine.Run"/> returned.</param>
    /// <param name="encode">Encodes a result tensor (float32, CPU) found at a path.</param>
    public static object ToAnswer(AttributionResult result, Func<string, torch.Tensor, TensorPayload> encode) => result.Batched
        ? new AttributionBatchResponse([.. result.Results.Select(r => ToResponse(r, encode))])
        : ToResponse(result.Results[0], encode);

    /// <summary>The answer for one sequence.</summary>
    public static AttributionResponse ToResponse(AttributionSequenceResult r, Func<string, torch.Tensor, TensorPayload> encode) => new(
        [.. r.Tokens], r.Loss, r.UnablatedLoss, r.TracedValue,
        r.Logits is null ? null : encode("logits", r.Logits),
        [.. r.NodeTable.Select(Node)],
        r.Sums.ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, TensorPayload>)g.Value.ToDictionary(
            s => s.Key, s => encode($"sums/{g.Key}/{s.Key}", s.Value))),
        r.Scalars?.ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, IReadOnlyDictionary<string, TensorPayload>>)g.Value.ToDictionary(
            s => s.Key, s => (IReadOnlyDictionary<string, TensorPayload>)s.Value.ToDictionary(
                l => l.Key, l => encode($"scalars/{g.Key}/{s.Key}/{l.Key}", l.Value)))),
        r.Verification?.Select(v => new AttributionVerification(Node(v.Node), v.ActTimesGrad, v.EstimatedChange, v.ExactChange, v.AblatedValue)).ToArray());

    private static AttributionNode Node(AttributionNodeRow row) => new(row.NodeType, row.LayerIndex, row.TensorIndices, row.Autoencoder, row.Values);
}
