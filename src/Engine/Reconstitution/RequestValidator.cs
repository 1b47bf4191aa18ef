using ReconService.Engine.Autoencoders;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Engine.Operations;
using ReconService.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ReconService.Engine.Reconstitution;

/// <summary>
/// Checks every argument of a reconstitution before any tensor work, throwing
/// <see cref="ReconstitutionException"/> that names the request field and what was expected.
/// </summary>
internal sealed class RequestValidator(GptConfig config, IReadOnlyDictionary<string, AutoencoderSet> autoencoders)
{
    /// <summary>Checks a residual input <c>[tokens, d_model]</c> or <c>[batch, tokens, d_model]</c> by dtype and shape; returns its tokens.</summary>
    public long Residual(ITensorInput residual) => Rows(residual, config.DModel, "d_model");

    /// <summary>
    /// Checks an input <c>[tokens, width]</c> or <c>[batch, tokens, width]</c> by its dtype (float32, float16 or bfloat16)
    /// and shape, with <c>1 &lt;= tokens &lt;= n_ctx</c>; returns its tokens. Reads no data.
    /// </summary>
    public long Rows(ITensorInput x, long width, string widthName)
    {
        if (x.Dtype is not ("float32" or "float16" or "bfloat16"))
            throw new ReconstitutionException(x.Field + ".dtype", $"expected float32, float16 or bfloat16, got {x.Dtype}");
        var shape = x.Shape;
        if (shape.Count is not (2 or 3) || shape[^1] != width || shape[^2] < 1 || shape[^2] > config.NCtx || shape[0] < 1)
            throw new ReconstitutionException(x.Field + ".shape",
                $"expected [tokens, {width}] or [batch, tokens, {width}] ({widthName} = {width}) with 1 <= tokens <= n_ctx ({config.NCtx}), got {TensorChecks.Format(shape)}");
        return shape[^2];
    }

    /// <summary>Rejects NaN and infinite inputs, with their count and the first position.</summary>
    public static void Finite(Tensor x, string field)
    {
        using var scope = NewDisposeScope();
        var bad = x.isfinite().logical_not();
        var count = bad.sum().item<long>();
        if (count == 0) return;
        var first = bad.nonzero()[0].data<long>().ToArray();
        throw new ReconstitutionException(field + ".data",
            $"expected finite values, got {count} NaN or infinite value(s), the first at {TensorChecks.Format(first)}");
    }

    /// <summary>Checks <c>0 &lt;= layerIndex &lt; n_layers</c>.</summary>
    public void Layer(int layerIndex, string field = "layerIndex")
    {
        if (layerIndex < 0 || layerIndex >= config.NLayers)
            throw new ReconstitutionException(field, $"expected 0 <= layerIndex < n_layers ({config.NLayers}), got {layerIndex}");
    }

    /// <summary>Checks a spec and resolves its autoencoder when exactly one can serve.</summary>
    public ActivationSpec Spec(ActivationSpec spec)
    {
        if (spec.PassType != PassType.Forward)
            throw new ReconstitutionException("passType", "only 'forward' can be reconstituted, got 'backward'");
        if (!Enum.IsDefined(spec.NodeType))
            throw new ReconstitutionException("nodeType", $"expected one of attention_head, mlp_neuron, autoencoder_latent, mlp_autoencoder_latent, attention_autoencoder_latent, got {spec.NodeType}");
        if (!Enum.IsDefined(spec.PreOrPostAct))
            throw new ReconstitutionException("preOrPostAct", $"expected 'pre' or 'post', got {spec.PreOrPostAct}");
        Layer(spec.LayerIndex);
        var isAttention = spec.NodeType == NodeType.AttentionHead;
        if (isAttention && spec.AttentionTraceType is null)
            throw new ReconstitutionException("attentionTraceType", "attention_head needs attentionTraceType 'QK', 'Q' or 'K'");
        if (!isAttention && spec.AttentionTraceType is not null)
            throw new ReconstitutionException("attentionTraceType", $"only attention_head takes attentionTraceType; {Spell(spec.NodeType)} does not");
        if (!IsLatent(spec.NodeType))
        {
            if (spec.Autoencoder is not null)
                throw new ReconstitutionException("autoencoder", $"only autoencoder latent node types take an autoencoder; {Spell(spec.NodeType)} does not");
            if (spec.LatentSlice is not null)
                throw new ReconstitutionException("latentSlice", $"only autoencoder latent node types take a latentSlice; {Spell(spec.NodeType)} does not");
            return spec;
        }
        var set = ResolveAutoencoder(spec);
        var nLatents = set.Layers[spec.LayerIndex].NLatents;
        if (spec.LatentSlice is { } s && (s.Start < 0 || s.Stop > nLatents || s.Start >= s.Stop))
            throw new ReconstitutionException("latentSlice",
                $"expected 0 <= start < stop <= n_latents ({nLatents}), got start {s.Start}, stop {s.Stop}");
        return spec with { Autoencoder = set.Name };
    }

    /// <summary>The autoencoder family <paramref name="name"/>, which must have one at <paramref name="layerIndex"/>.</summary>
    public Autoencoder Autoencoder(string name, int layerIndex, string field = "name")
    {
        if (!autoencoders.TryGetValue(name, out var set))
            throw new ReconstitutionException(field, $"unknown autoencoder '{name}'; loaded: {Loaded()}");
        Layer(layerIndex);
        if (!set.Layers.TryGetValue(layerIndex, out var autoencoder))
            throw new ReconstitutionException("layerIndex",
                $"autoencoder '{name}' has no autoencoder for layer {layerIndex}; it has layers [{string.Join(", ", set.Layers.Keys.Order())}]");
        return autoencoder;
    }

    /// <summary>The activation's shape per sequence for <paramref name="tokens"/> tokens (the spec validated).</summary>
    public long[] ActivationShape(ActivationSpec spec, long tokens) => spec.NodeType switch
    {
        NodeType.AttentionHead => [tokens, tokens, config.NHeads],
        NodeType.MlpNeuron => [tokens, config.DFf],
        _ => [tokens, spec.LatentSlice is { } s ? s.Stop - s.Start : autoencoders[spec.Autoencoder!].Layers[spec.LayerIndex].NLatents],
    };

    /// <summary>Checks one index per activation axis, in range, and not at a masked (-inf) attention score.</summary>
    public void TensorIndices(IReadOnlyList<long> indices, ActivationSpec spec, long[] shape)
    {
        if (indices.Count != shape.Length)
            throw new ReconstitutionException("tensorIndices",
                $"expected {shape.Length} indices (one per activation axis of {TensorChecks.Format(shape)}, batch excluded), got {indices.Count}");
        for (var i = 0; i < shape.Length; i++)
            if (indices[i] < 0 || indices[i] >= shape[i])
                throw new ReconstitutionException($"tensorIndices[{i}]", $"expected 0 <= index < {shape[i]} for activation shape {TensorChecks.Format(shape)}, got {indices[i]}");
        if (spec.NodeType == NodeType.AttentionHead && spec.PreOrPostAct == PreOrPostAct.Pre && indices[1] > indices[0])
            throw new ReconstitutionException("tensorIndices",
                $"[{indices[0]}, {indices[1]}, {indices[2]}] is a masked attention score (-inf, key after query): expected key <= query");
    }

    private AutoencoderSet ResolveAutoencoder(ActivationSpec spec)
    {
        if (spec.Autoencoder is { } name)
        {
            if (!autoencoders.TryGetValue(name, out var named))
                throw new ReconstitutionException("autoencoder", $"unknown autoencoder '{name}'; loaded: {Loaded()}");
            if (!Serves(named, spec.NodeType))
                throw new ReconstitutionException("autoencoder",
                    $"autoencoder '{name}' encodes {Spell(named.InputType)}, which {Spell(spec.NodeType)} nodes do not read");
            if (!named.Layers.ContainsKey(spec.LayerIndex))
                throw new ReconstitutionException("layerIndex",
                    $"autoencoder '{name}' has no autoencoder for layer {spec.LayerIndex}; it has layers [{string.Join(", ", named.Layers.Keys.Order())}]");
            return named;
        }
        var candidates = autoencoders.Values.Where(a => Serves(a, spec.NodeType) && a.Layers.ContainsKey(spec.LayerIndex)).ToList();
        return candidates.Count switch
        {
            1 => candidates[0],
            0 => throw new ReconstitutionException("autoencoder",
                $"no loaded autoencoder serves {Spell(spec.NodeType)} at layer {spec.LayerIndex}; loaded: {Loaded()}"),
            _ => throw new ReconstitutionException("autoencoder",
                $"several autoencoders serve {Spell(spec.NodeType)} at layer {spec.LayerIndex}: name one of {string.Join(", ", candidates.Select(c => c.Name))}"),
        };
    }

    private string Loaded() => autoencoders.Count == 0 ? "none" : string.Join(", ", autoencoders.Keys.Order());

    private static bool IsLatent(NodeType nodeType) => nodeType is NodeType.AutoencoderLatent or NodeType.MlpAutoencoderLatent or NodeType.AttentionAutoencoderLatent;

    private static bool Serves(AutoencoderSet set, NodeType nodeType) =>
        nodeType == NodeType.AutoencoderLatent || set.NodeType == nodeType;

    private static string Spell<T>(T value) where T : struct, Enum =>
        typeof(T).GetField(value.ToString())?.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonStringEnumMemberNameAttribute), false)
            .Cast<System.Text.Json.Serialization.JsonStringEnumMemberNameAttribute>().FirstOrDefault()?.Name ?? value.ToString();
}
