using ReconService.Engine.Autoencoders;
using ReconService.Engine.Model;
using ReconService.Models;
using ReconService.Models.Wire;

namespace ReconService.Engine.Attribution;

/// <summary>
/// Validates an <see cref="AttributionSpec"/> before any tensor work, throwing <see cref="ReconstitutionException"/>
/// with the request field at fault (<c>loss.targetTokens[0]</c>, <c>ablations[1].tensorIndices[2]</c>), and plans it.
/// </summary>
internal sealed class AttributionPlanner(GptConfig config, IReadOnlyDictionary<string, AutoencoderSet> autoencoders)
{
    /// <summary>Largest <c>topK</c>.</summary>
    public const int MaxTopK = 10_000;
    /// <summary>Largest <c>verifyTopN</c>: each verified node costs a forward pass.</summary>
    public const int MaxVerifyTopN = 256;

    public AttributionPlan Plan(AttributionSpec spec)
    {
        var lengths = Sequences(spec);
        var splices = Splices(spec);
        var trace = spec.Trace is null ? null : Trace(spec.Trace, splices, lengths);
        Loss(spec, trace, lengths);
        var ablations = spec.Ablations.Select((a, i) => Ablation(a, i, splices, lengths)).ToList();
        var groups = spec.Groups ?? AttributionSpec.DefaultGroups;
        if (groups.Count == 0) throw new ReconstitutionException("groups", "expected at least one group");
        if (groups.Distinct().Count() != groups.Count) throw new ReconstitutionException("groups", "expected each group at most once");
        if (spec.TopK < 0 || spec.TopK > MaxTopK) throw new ReconstitutionException("topK", $"expected 0 <= topK <= {MaxTopK}, got {spec.TopK}");
        if (spec.VerifyTopN < 0 || spec.VerifyTopN > MaxVerifyTopN)
            throw new ReconstitutionException("verifyTopN", $"expected 0 <= verifyTopN <= {MaxVerifyTopN}, got {spec.VerifyTopN}");
        var families = NodeFamily.For(splices, config.NLayers);
        var tensors = AttributionMemory.Tensors(spec, groups, families, lengths, config);
        var memory = AttributionMemory.WorkingBytes(spec, groups, families, splices, lengths, config);
        return new AttributionPlan(spec, groups, splices, ablations, trace, families, tensors, memory);
    }

    private int[] Sequences(AttributionSpec spec)
    {
        if (spec.Sequences.Count == 0) throw new ReconstitutionException(spec.TokensField, "expected at least one sequence");
        if (!spec.Batched && spec.Sequences.Count != 1)
            throw new ReconstitutionException(spec.TokensField, $"expected one sequence when not batched, got {spec.Sequences.Count}");
        var lengths = new int[spec.Sequences.Count];
        for (var i = 0; i < lengths.Length; i++)
        {
            var field = spec.Batched ? $"{spec.TokensField}[{i}]" : spec.TokensField;
            var tokens = spec.Sequences[i];
            if (tokens.Count < 1 || tokens.Count > config.NCtx)
                throw new ReconstitutionException(field, $"expected 1 <= tokens <= n_ctx ({config.NCtx}), got {tokens.Count}");
            for (var j = 0; j < tokens.Count; j++)
                if (tokens[j] < 0 || tokens[j] >= config.NVocab)
                    throw new ReconstitutionException($"{field}[{j}]", $"expected a token id in [0, n_vocab) = [0, {config.NVocab}), got {tokens[j]}");
            lengths[i] = tokens.Count;
        }
        return lengths;
    }

    private List<SplicedFamily> Splices(AttributionSpec spec)
    {
        var splices = new List<SplicedFamily>();
        for (var i = 0; i < spec.Autoencoders.Count; i++)
        {
            var name = spec.Autoencoders[i];
            if (!autoencoders.TryGetValue(name, out var set))
                throw new ReconstitutionException($"autoencoders[{i}]",
                    $"unknown autoencoder '{name}'; loaded: {(autoencoders.Count == 0 ? "none" : string.Join(", ", autoencoders.Keys.Order()))}");
            if (splices.Any(s => s.Set.Name == name)) throw new ReconstitutionException($"autoencoders[{i}]", $"'{name}' is named twice");
            var side = set.OutputType is not null
                ? set.OutputType == AutoencoderInputType.ResidDeltaMlp && (set.InputType is AutoencoderInputType.Ln2Normalized or AutoencoderInputType.ResidPostAttn)
                    ? BlockSide.Mlp
                    : throw new ReconstitutionException($"autoencoders[{i}]",
                        $"'{name}' is a transcoder from {Spelling(set.InputType)} to {Spelling(set.OutputType.Value)}: attribution splices transcoders " +
                        "from ln_2.normalized or resid.post_attn to resid.delta_mlp only")
                : set.InputType switch
                {
                    AutoencoderInputType.MlpPostAct or AutoencoderInputType.ResidDeltaMlp => BlockSide.Mlp,
                    AutoencoderInputType.ResidDeltaAttn => BlockSide.Attention,
                    AutoencoderInputType.ResidPre or AutoencoderInputType.ResidPostAttn or AutoencoderInputType.ResidPostMlp => BlockSide.Residual,
                    _ => throw new ReconstitutionException($"autoencoders[{i}]",
                        $"'{name}' reads {Spelling(set.InputType)}: attribution splices autoencoders on mlp.post_act, resid.delta_mlp, resid.delta_attn, " +
                        "resid.pre, resid.post_attn and resid.post_mlp, and transcoders to resid.delta_mlp"),
                };
            splices.Add(new SplicedFamily(set, i, side));
        }
        return splices;
    }

    private static string Spelling(AutoencoderInputType type) => System.Text.Json.JsonSerializer.Serialize(type).Trim('"');

    private void Loss(AttributionSpec spec, ResolvedTrace? trace, int[] lengths)
    {
        var needsLoss = trace is null || trace.TraceType == AttributionTraceType.V;
        if (spec.Loss is not { } loss)
        {
            if (needsLoss) throw new ReconstitutionException("loss", trace is null ? "expected a loss or a trace" : "a V trace needs a loss");
            return;
        }
        if (!needsLoss) throw new ReconstitutionException("loss", "give a loss or a trace, not both (only a V trace takes a loss)");
        if (!Enum.IsDefined(loss.Name)) throw new ReconstitutionException("loss.name", "expected logit_diff, probs or logprob");
        if (loss.TargetTokens.Count == 0) throw new ReconstitutionException("loss.targetTokens", "expected at least one target token");
        TokenIds(loss.TargetTokens, "loss.targetTokens");
        if (loss.Name != AttributionLossName.LogitDiff && loss.DistractorTokens.Count > 0)
            throw new ReconstitutionException("loss.distractorTokens", "only logit_diff takes distractor tokens");
        TokenIds(loss.DistractorTokens, "loss.distractorTokens");
        var shortest = lengths.Min();
        if (loss.Position < -shortest || loss.Position >= shortest)
            throw new ReconstitutionException("loss.position",
                $"expected -{shortest} <= position < {shortest} (the shortest sequence has {shortest} tokens), got {loss.Position}");
    }

    private void TokenIds(IReadOnlyList<int> ids, string field)
    {
        for (var j = 0; j < ids.Count; j++)
            if (ids[j] < 0 || ids[j] >= config.NVocab)
                throw new ReconstitutionException($"{field}[{j}]", $"expected a token id in [0, n_vocab) = [0, {config.NVocab}), got {ids[j]}");
    }

    private ResolvedTrace Trace(AttributionTraceSpec trace, List<SplicedFamily> splices, int[] lengths)
    {
        Layer(trace.LayerIndex, "trace.layerIndex");
        var isHead = trace.NodeType == NodeType.AttentionHead;
        if (isHead && trace.AttentionTraceType is null)
            throw new ReconstitutionException("trace.attentionTraceType", "attention_head needs attentionTraceType QK, Q, K or V");
        if (!isHead && trace.AttentionTraceType is not null)
            throw new ReconstitutionException("trace.attentionTraceType", "only attention_head takes attentionTraceType");
        if (!Enum.IsDefined(trace.NodeType))
            throw new ReconstitutionException("trace.nodeType", "expected mlp_neuron, attention_head or a latent node type");
        if (!IsLatent(trace.NodeType) && trace.Autoencoder is not null)
            throw new ReconstitutionException("trace.autoencoder", "only latent node types take an autoencoder");
        var splice = IsLatent(trace.NodeType) ? Splice(trace.NodeType, trace.LayerIndex, trace.Autoencoder, splices, "trace") : null;
        if (splice is { Side: BlockSide.Residual })
            throw new ReconstitutionException(trace.Autoencoder is null ? "trace.nodeType" : "trace.autoencoder",
                $"'{splice.Set.Name}' is a residual-stream autoencoder: traces start from MLP- and attention-side nodes only (its latents can be ablated)");
        var width = trace.NodeType switch
        {
            NodeType.AttentionHead => config.NHeads,
            NodeType.MlpNeuron => config.DFf,
            _ => splice!.Set.Layers[trace.LayerIndex].NLatents,
        };
        var indices = Indices(trace.TensorIndices.Select(i => (long?)i).ToList(), isHead, width, lengths, "trace.tensorIndices", allowAll: false);
        if (isHead && indices[1] > indices[0])
            throw new ReconstitutionException("trace.tensorIndices",
                $"[{indices[0]}, {indices[1]}, {indices[2]}] is a masked attention pair (key after query): expected key <= query");
        var side = isHead ? BlockSide.Attention : trace.NodeType == NodeType.MlpNeuron ? BlockSide.Mlp : splice!.Side;
        return new ResolvedTrace(trace.NodeType, trace.LayerIndex, [.. indices.Select(i => i!.Value)], trace.AttentionTraceType, side,
            splice?.Index ?? -1);
    }

    private ResolvedAblation Ablation(AttributionAblationSpec a, int i, List<SplicedFamily> splices, int[] lengths)
    {
        var field = $"ablations[{i}]";
        Layer(a.LayerIndex, field + ".layerIndex");
        if (!double.IsFinite(a.Value)) throw new ReconstitutionException(field + ".value", $"expected a finite value, got {a.Value}");
        if (!IsLatent(a.NodeType) && a.Autoencoder is not null)
            throw new ReconstitutionException(field + ".autoencoder", "only latent node types take an autoencoder");
        if (!Enum.IsDefined(a.NodeType))
            throw new ReconstitutionException(field + ".nodeType", "expected mlp_neuron, attention_head or a latent node type");
        switch (a.NodeType)
        {
            case NodeType.MlpNeuron:
                return new(AblationTarget.Neuron, a.LayerIndex, Indices(a.TensorIndices, false, config.DFf, lengths, field + ".tensorIndices"), a.Value);
            case NodeType.AttentionHead:
            {
                var head = Indices(a.TensorIndices, true, config.NHeads, lengths, field + ".tensorIndices");
                if (head[0] is { } q && head[1] is { } k && k > q)
                    throw new ReconstitutionException(field + ".tensorIndices",
                        $"[{q}, {k}, {head[2]?.ToString() ?? "All"}] is a masked attention pair (key after query): no attention flows there to ablate; expected key <= query");
                return new(AblationTarget.Head, a.LayerIndex, head, a.Value);
            }
            default:
                var splice = Splice(a.NodeType, a.LayerIndex, a.Autoencoder, splices, field);
                var width = splice.Set.Layers[a.LayerIndex].NLatents;
                return new(AblationTarget.Latent, a.LayerIndex, Indices(a.TensorIndices, false, width, lengths, field + ".tensorIndices"), a.Value,
                    splice.Index);
        }
    }

    /// <summary>Checks <c>[token, unit]</c> or <c>[q, k, head]</c> against every sequence; null entries are "All".</summary>
    private static long?[] Indices(IReadOnlyList<long?> indices, bool head, long width, int[] lengths, string field, bool allowAll = true)
    {
        var shortest = lengths.Min();
        long[] bounds = head ? [shortest, shortest, width] : [shortest, width];
        if (indices.Count != bounds.Length)
            throw new ReconstitutionException(field, $"expected {bounds.Length} indices ({(head ? "[q, k, head]" : "[token, unit]")}), got {indices.Count}");
        for (var j = 0; j < bounds.Length; j++)
        {
            if (indices[j] is not long index)
            {
                if (!allowAll) throw new ReconstitutionException($"{field}[{j}]", "expected an integer (\"All\" is for ablations)");
                continue;
            }
            if (index < 0 || index >= bounds[j])
                throw new ReconstitutionException($"{field}[{j}]",
                    $"expected 0 <= index < {bounds[j]}{(j < bounds.Length - 1 ? $" (the shortest sequence has {shortest} tokens)" : "")}, got {index}");
        }
        return [.. indices];
    }

    /// <summary>The spliced family that serves a latent node type at a layer.</summary>
    private static SplicedFamily Splice(NodeType nodeType, int layer, string? name, List<SplicedFamily> splices, string field)
    {
        bool Serves(SplicedFamily s) => nodeType == NodeType.AutoencoderLatent || s.Set.NodeType == nodeType;
        if (name is not null)
        {
            var named = splices.FirstOrDefault(s => s.Set.Name == name)
                ?? throw new ReconstitutionException(field + ".autoencoder", $"'{name}' is not among the request's autoencoders");
            if (!Serves(named)) throw new ReconstitutionException(field + ".autoencoder", $"'{name}' has no {nodeType} nodes");
            if (!named.Set.Layers.ContainsKey(layer)) throw new ReconstitutionException(field + ".layerIndex", $"'{name}' has no autoencoder at layer {layer}");
            return named;
        }
        var candidates = splices.Where(s => Serves(s) && s.Set.Layers.ContainsKey(layer)).ToList();
        return candidates.Count switch
        {
            1 => candidates[0],
            0 => throw new ReconstitutionException(field + ".nodeType",
                $"no autoencoder among the request's autoencoders has latents of this node type at layer {layer}"),
            _ => throw new ReconstitutionException(field + ".autoencoder",
                $"several of the request's autoencoders serve layer {layer}: name one of {string.Join(", ", candidates.Select(c => c.Set.Name))}"),
        };
    }

    private void Layer(int layer, string field)
    {
        if (layer < 0 || layer >= config.NLayers)
            throw new ReconstitutionException(field, $"expected 0 <= layerIndex < n_layers ({config.NLayers}), got {layer}");
    }

    private static bool IsLatent(NodeType t) => t is NodeType.AutoencoderLatent or NodeType.MlpAutoencoderLatent or NodeType.AttentionAutoencoderLatent;
}
