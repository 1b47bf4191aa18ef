using ReconService.Models.Wire;
using TorchSharp;

namespace ReconService.Engine.Attribution;

/// <summary>
/// What <see cref="AttributionEngine.Run"/> returns: one result per sequence, in request order. Tensors are float32 on
/// the CPU, contiguous, without a batch axis, moved to the caller's dispose scope (or disposed with this object).
/// </summary>
/// <param name="Batched">Whether the request named a batch (the answer is then <c>{"results": [...]}</c>).</param>
/// <param name="Results">One result per sequence.</param>
public sealed record AttributionResult(bool Batched, IReadOnlyList<AttributionSequenceResult> Results) : IDisposable
{
    /// <summary>Disposes every tensor of every result.</summary>
    public void Dispose()
    {
        foreach (var result in Results)
            foreach (var (_, tensor) in result.Tensors()) tensor.Dispose();
    }
}

/// <summary>The attribution of one sequence (the wire's <see cref="AttributionResponse"/>).</summary>
/// <param name="Tokens">Token ids.</param>
/// <param name="Loss">The loss after ablations; null for a trace other than V.</param>
/// <param name="UnablatedLoss">The loss without ablations, when ablations were given and there is a loss.</param>
/// <param name="TracedValue">The traced node's value (TDB's <c>activation_value_for_backward_pass</c>).</param>
/// <param name="Logits">With <c>dense</c>: <c>[tokens, n_vocab]</c>.</param>
/// <param name="NodeTable">Rows in TDB's order: per group, the top k of each node kind merged largest first, then the
/// bottom k likewise; duplicates dropped.</param>
/// <param name="Sums">Group name, then TDB scalar name: <c>[tokens]</c>, or <c>[q, k]</c> for heads (TDB's intermediate sums).</param>
/// <param name="Scalars">With <c>dense</c>: group name, TDB scalar name, layer key (<c>"0"</c>... or <c>"none"</c>): full tensors.</param>
/// <param name="Verification">With <c>verifyTopN</c>: the verified nodes, largest |act × grad| first.</param>
public sealed record AttributionSequenceResult(
    IReadOnlyList<int> Tokens, double? Loss, double? UnablatedLoss, double? TracedValue, torch.Tensor? Logits,
    IReadOnlyList<AttributionNodeRow> NodeTable,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, torch.Tensor>> Sums,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, torch.Tensor>>>? Scalars,
    IReadOnlyList<AttributionVerificationRow>? Verification)
{
    /// <summary>Every tensor with its path (<c>logits</c>, <c>sums/&lt;group&gt;/&lt;scalar&gt;</c>,
    /// <c>scalars/&lt;group&gt;/&lt;scalar&gt;/&lt;layer&gt;</c>), as the safetensors transport names them.</summary>
    public IEnumerable<(string Path, torch.Tensor Tensor)> Tensors()
    {
        if (Logits is not null) yield return ("logits", Logits);
        foreach (var (group, byScalar) in Sums)
            foreach (var (scalar, tensor) in byScalar) yield return ($"sums/{group}/{scalar}", tensor);
        foreach (var (group, byScalar) in Scalars ?? new Dictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, torch.Tensor>>>())
            foreach (var (scalar, byLayer) in byScalar)
                foreach (var (layer, tensor) in byLayer) yield return ($"scalars/{group}/{scalar}/{layer}", tensor);
    }
}

/// <summary>One node of the table.</summary>
/// <param name="NodeType">Its kind (<c>layer</c> is the token embedding at a position).</param>
/// <param name="LayerIndex">Its layer; null for <c>layer</c> nodes.</param>
/// <param name="TensorIndices"><c>[t, unit]</c>, <c>[t, 0]</c> or <c>[q, k, head]</c>.</param>
/// <param name="Autoencoder">For latents and errors, the autoencoder's name.</param>
/// <param name="Values">Group name to the node's value in it.</param>
public sealed record AttributionNodeRow(AttributionNodeType NodeType, int? LayerIndex, long[] TensorIndices, string? Autoencoder,
    IReadOnlyDictionary<string, float> Values);

/// <summary>A verified node: estimate and exact change of the loss (or traced value) when it is set to zero.</summary>
/// <param name="Node">The node, with its values.</param>
/// <param name="ActTimesGrad">Its act × grad.</param>
/// <param name="EstimatedChange"><c>-act × grad</c>, the first-order change.</param>
/// <param name="ExactChange">The change measured with one more forward pass.</param>
/// <param name="AblatedValue">The loss (or traced value) with the node at zero.</param>
public sealed record AttributionVerificationRow(AttributionNodeRow Node, double ActTimesGrad, double EstimatedChange, double ExactChange,
    double AblatedValue);
