using ReconService.Engine.Model;
using ReconService.Engine.Reconstitution;
using ReconService.Models;

namespace ReconService.Engine.Operations;

/// <summary>
/// Working-memory estimates of operations, in bytes: 4 bytes per float32 value of every tensor a run holds at its
/// peak. Counted per sequence, times the batch:
/// <list type="bullet">
/// <item>the decoded inputs and the outputs (outputs stay alive until the answer is encoded);</item>
/// <item>the forward path's intermediates: a layer norm 3 × tokens × d_model (centred, scale, output); attention
/// 4 × tokens × d_model (Q, K and their scaled copies) + 3 × tokens² × heads (scores, masked scores, probabilities),
/// its output another 3 × tokens × d_model + tokens² × heads; an MLP 6 × tokens × d_ff (pre-activation, GELU's
/// intermediates, post-activation); an autoencoder 3 × tokens × n_latents; the unembedding tokens × n_vocab, and
/// as much again for log-softmax;</item>
/// <item>derivatives multiply the path: a JVP carries a tangent beside every value (× 2), a gradient keeps the
/// autograd graph and its gradients (× 3).</item>
/// </list>
/// The estimate is an upper bound of what libtorch allocates for these shapes, not of what the allocator keeps.
/// </summary>
public static class WorkingMemory
{
    /// <summary>How derivatives multiply a forward path's memory.</summary>
    public enum Derivative
    {
        /// <summary>Values only.</summary>
        None = 1,
        /// <summary>Forward-mode tangents beside values.</summary>
        Jvp = 2,
        /// <summary>Reverse mode: graph, values and gradients.</summary>
        Gradient = 3,
    }

    /// <summary>Bytes of <paramref name="values"/> float32 values.</summary>
    public static long Bytes(long values) => checked(values * sizeof(float));

    /// <summary>Values a layer norm holds over <paramref name="tokens"/> tokens.</summary>
    internal static long Norm(GptConfig c, long tokens) => 3 * tokens * c.DModel;

    /// <summary>Values of attention up to its probabilities (and values V).</summary>
    internal static long Attention(GptConfig c, long tokens) => Norm(c, tokens) + 5 * tokens * c.DModel + 3 * tokens * tokens * c.NHeads;

    /// <summary>Values of the attention block up to its output.</summary>
    internal static long AttentionOutput(GptConfig c, long tokens) => Attention(c, tokens) + 3 * tokens * c.DModel + tokens * tokens * c.NHeads;

    /// <summary>Values of the MLP block up to its output.</summary>
    internal static long Mlp(GptConfig c, long tokens) => Norm(c, tokens) + 6 * tokens * c.DFf + tokens * c.DModel;

    /// <summary>Values of the unembedding (and log-softmax when <paramref name="logprobs"/>).</summary>
    internal static long Unembed(GptConfig c, long tokens, bool logprobs) => Norm(c, tokens) + (logprobs ? 2 : 1) * tokens * c.NVocab;

    /// <summary>Values of the path to the activation of a checked <paramref name="spec"/>.</summary>
    internal static long Activation(ReconstitutionEngine engine, ActivationSpec spec, long tokens)
    {
        var c = engine.Config;
        if (spec.NodeType == NodeType.AttentionHead) return Attention(c, tokens);
        if (spec.NodeType == NodeType.MlpNeuron) return Mlp(c, tokens);
        var set = engine.AutoencoderSets[spec.Autoencoder!];
        var input = set.InputType == AutoencoderInputType.ResidDeltaAttn ? AttentionOutput(c, tokens) : Mlp(c, tokens);
        return input + 3 * tokens * set.Layers[spec.LayerIndex].NLatents;
    }

    /// <summary>
    /// The estimate for one run: <paramref name="inputs"/> and <paramref name="outputs"/> as they are, plus
    /// <paramref name="pathPerSequence"/> × <paramref name="batch"/> × the derivative's factor.
    /// </summary>
    internal static long Estimate(IEnumerable<ITensorInput> inputs, IEnumerable<TensorPlan> outputs, long batch, long pathPerSequence,
        Derivative derivative = Derivative.None)
    {
        long values = checked(batch * pathPerSequence * (long)derivative);
        foreach (var input in inputs) values = checked(values + input.Shape.Aggregate(1L, (n, d) => checked(n * d)));
        foreach (var output in outputs) values = checked(values + output.Elements);
        return Bytes(values);
    }

    /// <summary>The batch of a <c>[tokens, width]</c> or <c>[batch, tokens, width]</c> input: 1, or its first axis.</summary>
    internal static long Batch(ITensorInput input) => input.Shape.Count == 3 ? input.Shape[0] : 1;

    /// <summary>An output shape: the input's batch axis (if any) followed by <paramref name="perSequence"/>.</summary>
    internal static long[] LikeInput(ITensorInput input, params long[] perSequence) =>
        input.Shape.Count == 3 ? [input.Shape[0], .. perSequence] : perSequence;
}
