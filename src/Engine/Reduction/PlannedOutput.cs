using ReconService.Models.Tensors;

namespace ReconService.Engine.Reduction;

/// <summary>
/// What one answer tensor becomes after <see cref="OutputReduction"/>: its shape and dtype, and, with <c>topK</c>, the
/// shape of its int32 sibling <c><see cref="Field"/>Indices</c>. Known before any tensor work, so that size limits can
/// be checked on the reduced answer.
/// </summary>
/// <param name="Field">Answer field, e.g. <c>activations</c>.</param>
/// <param name="Shape">Shape of the returned values.</param>
/// <param name="Dtype">Element type of the returned values.</param>
/// <param name="IndicesShape">Shape of <c><see cref="Field"/>Indices</c> (equal to <paramref name="Shape"/>), or null without <c>topK</c>.</param>
/// <param name="WorkingBytes">Bytes the reduction itself allocates besides the unreduced tensor (an estimate, for memory budgets).</param>
public sealed record PlannedOutput(string Field, long[] Shape, TensorDtype Dtype, long[]? IndicesShape, long WorkingBytes)
{
    /// <summary>Name of the int32 sibling field that holds top-k positions: <c><see cref="Field"/>Indices</c>.</summary>
    public string IndicesField => IndicesFieldOf(Field);

    /// <summary>Values returned: the element count of <see cref="Shape"/>, plus that of <see cref="IndicesShape"/> when present.</summary>
    public long ElementCount => Count(Shape) + (IndicesShape is null ? 0 : Count(IndicesShape));

    /// <summary>Raw bytes of the returned values and indices (before any transport encoding).</summary>
    public long ByteCount => Count(Shape) * Dtype.Size() + (IndicesShape is null ? 0 : Count(IndicesShape) * TensorDtype.Int32.Size());

    /// <summary>The sibling field name for the top-k positions of <paramref name="field"/>: <c>activations</c> → <c>activationsIndices</c>.</summary>
    public static string IndicesFieldOf(string field) => field + "Indices";

    private static long Count(long[] shape)
    {
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        return n;
    }
}
