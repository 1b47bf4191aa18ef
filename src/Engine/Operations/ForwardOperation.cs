using ReconService.Engine.Hooks;
using static TorchSharp.torch;

namespace ReconService.Engine.Operations;

/// <summary>One predicted next token.</summary>
/// <param name="Token">Token id.</param>
/// <param name="Logprob">Natural-log probability.</param>
public readonly record struct TokenLogprob(int Token, float Logprob);

/// <summary>A forward pass's answer.</summary>
/// <param name="Tokens">The token ids it ran over.</param>
/// <param name="TopPredictions">Per position, the most likely next tokens, best first.</param>
/// <param name="Tensors">Each capture, named <c>captured/&lt;location&gt;/&lt;layer&gt;</c> (<c>none</c> for locations outside the layers).</param>
public sealed record ForwardOutput(int[] Tokens, TokenLogprob[][] TopPredictions, IReadOnlyList<NamedTensor> Tensors) : IEngineResult;

/// <summary>
/// A forward pass over one sequence of token ids, capturing activation locations (<see cref="ActivationLocations"/>)
/// at the given layers (all when null), with the <paramref name="TopK"/> most likely next tokens at every position.
/// </summary>
/// <param name="Tokens">Token ids, <c>1 &lt;= count &lt;= n_ctx</c>.</param>
/// <param name="TokensField">Request field the tokens came from (<c>tokens</c>, or <c>prompt</c> when tokenized), for errors.</param>
/// <param name="Capture">Location names; duplicates are ignored.</param>
/// <param name="Layers">Layers to capture per-layer locations at; all when null.</param>
/// <param name="TopK">Next-token predictions per position, 0 to <see cref="MaxTopK"/>.</param>
public sealed record ForwardOperation(int[] Tokens, string TokensField, IReadOnlyList<string> Capture, IReadOnlyList<int>? Layers, int TopK)
    : IEngineOperation<ForwardOutput>
{
    /// <summary>Largest <see cref="TopK"/>.</summary>
    public const int MaxTopK = 50;

    /// <summary>The name of a capture's output tensor.</summary>
    public static string OutputName(string location, int? layer) => $"captured/{location}/{(layer is int l ? l.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")}";

    /// <summary>The location and layer (null for none) of an output named by <see cref="OutputName"/>.</summary>
    public static (string Location, int? Layer) ParseOutputName(string name)
    {
        var parts = name.Split('/');
        return (parts[1], parts[2] == "none" ? null : int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <inheritdoc />
    public EnginePlan<ForwardOutput> Plan(ReconstitutionEngine engine)
    {
        var c = engine.Config;
        if (Tokens.Length == 0 || Tokens.Length > c.NCtx)
            throw new ReconstitutionException(TokensField, $"expected 1 to {c.NCtx} tokens (the context window), got {Tokens.Length}");
        var bad = Array.FindIndex(Tokens, t => t < 0 || t >= c.NVocab);
        if (bad >= 0)
            throw new ReconstitutionException(TokensField, $"token {bad} is {Tokens[bad]}, expected 0 <= id < {c.NVocab}");
        foreach (var location in Capture)
            if (!ActivationLocations.All.Contains(location))
                throw new ReconstitutionException("capture",
                    $"unknown location '{(location.Length > 40 ? location[..40] : location)}'; expected any of {string.Join(", ", ActivationLocations.All)}");
        foreach (var layer in Layers ?? [])
            if (layer < 0 || layer >= c.NLayers)
                throw new ReconstitutionException("layers", $"expected layers in 0..{c.NLayers - 1}, got {layer}");
        if (Layers is { Count: > 0 } && !Capture.Any(ActivationLocations.IsPerLayer))
            throw new ReconstitutionException("layers",
                $"layers select per-layer captures, but capture ({(Capture.Count == 0 ? "empty" : string.Join(", ", Capture))}) has none; "
                + "capture a per-layer location such as resid.post_attn, or leave layers out");
        if (TopK is < 0 or > MaxTopK)
            throw new ReconstitutionException("topK", $"expected 0 to {MaxTopK}, got {TopK}");

        var checkedOp = this with { Capture = Capture.Distinct().ToArray(), Layers = Layers?.Distinct().Order().ToArray() };
        long t = Tokens.Length;
        var outputs = new List<TensorPlan>();
        foreach (var location in checkedOp.Capture)
        {
            long[] shape = location switch
            {
                ActivationLocations.Logits => [t, c.NVocab],
                ActivationLocations.AttnQkLogits or ActivationLocations.AttnQkProbs => [t, t, c.NHeads],
                ActivationLocations.AttnQuery or ActivationLocations.AttnKey or ActivationLocations.AttnValue or ActivationLocations.AttnVOut => [t, c.NHeads, c.DHead],
                ActivationLocations.MlpPreAct or ActivationLocations.MlpPostAct => [t, c.DFf],
                _ => [t, c.DModel],
            };
            if (!ActivationLocations.IsPerLayer(location)) outputs.Add(new(OutputName(location, null), shape));
            else foreach (var layer in checkedOp.Layers ?? Enumerable.Range(0, c.NLayers)) outputs.Add(new(OutputName(location, layer), shape));
        }
        // The pass keeps the residual stream after every layer, one layer's intermediates at a time (each layer's are freed
        // before the next runs), then the logits and their log-softmax.
        var path = (c.NLayers + 1) * t * c.DModel + WorkingMemory.AttentionOutput(c, t) + WorkingMemory.Mlp(c, t) + 2 * t * c.DModel
                   + WorkingMemory.Unembed(c, t, logprobs: true);
        return new(checkedOp, [], outputs, WorkingMemory.Estimate([], outputs, 1, path));
    }

    /// <inheritdoc />
    public ForwardOutput Run(ReconstitutionEngine engine)
    {
        var result = engine.Forward(tensor(Tokens.Select(t => (long)t).ToArray(), ScalarType.Int64), Capture, Layers);
        var tensors = new List<NamedTensor>();
        foreach (var location in Capture)
            foreach (var (layer, captured) in result.Captured[location].OrderBy(kv => kv.Key))
                tensors.Add(new(OutputName(location, layer < 0 ? null : layer), captured, CausalMask: location == ActivationLocations.AttnQkLogits));
        return new(Tokens, TopPredictions(result.Logits), tensors);
    }

    /// <summary>The <see cref="TopK"/> largest log-probabilities at each position of <paramref name="logits"/> <c>[tokens, n_vocab]</c>.</summary>
    private TokenLogprob[][] TopPredictions(Tensor logits)
    {
        if (TopK == 0) return [];
        using var scope = NewDisposeScope();
        var logprobs = nn.functional.log_softmax(logits.to(ScalarType.Float32), -1);
        var (values, indices) = topk(logprobs, Math.Min(TopK, (int)logprobs.shape[^1]), dim: -1);
        var v = values.data<float>().ToArray();
        var ix = indices.data<long>().ToArray();
        int positions = (int)values.shape[0], width = (int)values.shape[1];
        return Enumerable.Range(0, positions)
            .Select(p => Enumerable.Range(0, width).Select(j => new TokenLogprob((int)ix[p * width + j], v[p * width + j])).ToArray())
            .ToArray();
    }
}
