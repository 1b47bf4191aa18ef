using TorchSharp;

namespace ReconService.Engine.Reduction;

/// <summary>An answer tensor after <see cref="OutputReduction.Apply"/>.</summary>
/// <param name="Values">The kept values, in the requested dtype (the input tensor itself when nothing was asked).</param>
/// <param name="Indices">With <c>topK</c>: int32 positions of <paramref name="Values"/> on the unreduced last axis; otherwise null.</param>
public sealed record ReducedTensor(torch.Tensor Values, torch.Tensor? Indices);
