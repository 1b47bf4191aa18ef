using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization;
using ReconService.Models.Tensors;

namespace ReconService.Models.Wire;

/// <summary>
/// <c>POST /v1/attribution</c>: TDB's node table (its activation server's <c>multiple_top_k_derived_scalars</c>) in one
/// request: a forward and a backward pass over tokens, every node scored against a loss or a traced node
/// (<c>../shared/docs/api.md</c>, "Attribution"; formulas in <c>../shared/golden/attribution/README.md</c>).
/// </summary>
/// <remarks>
/// Give exactly one of <see cref="Tokens"/>, <see cref="Prompt"/>, <see cref="Prompts"/>. A flat <c>tokens</c> list or a
/// <c>prompt</c> is one sequence (answer <see cref="AttributionResponse"/>); <c>tokens</c> as a list of lists (lengths may
/// differ) or <c>prompts</c> is a batch (answer <see cref="AttributionBatchResponse"/>), each result exactly what that
/// sequence alone would get. Unknown members are refused by name.
/// </remarks>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record AttributionRequest : TensorRequest
{
    /// <summary>Token ids: <c>[464, 3139]</c> (one sequence) or <c>[[464, 3139], [818]]</c> (a batch).</summary>
    public TokenSequences? Tokens { get; init; }
    /// <summary>Text of one sequence, tokenized with the model's tokenizer.</summary>
    public string? Prompt { get; init; }
    /// <summary>Texts of a batch of sequences.</summary>
    public string[]? Prompts { get; init; }
    /// <summary>
    /// With <see cref="Prompt"/> or <see cref="Prompts"/>: encode each <c>&lt;|endoftext|&gt;</c> in the text as token 50256
    /// (as <c>/v1/forward</c>). Default false: it is ordinary text (seven tokens). Must stay false with <see cref="Tokens"/>.
    /// </summary>
    public bool AllowSpecial { get; init; }
    /// <summary>
    /// Put token 50256 (<c>&lt;|endoftext|&gt;</c>, GPT-2's BOS) before every sequence, from text or given tokens (as
    /// <c>/v1/forward</c>); positions in <c>loss</c>, <c>trace</c> and <c>ablations</c> then count it. Default false.
    /// </summary>
    public bool PrependBos { get; init; }
    /// <summary>What the backward pass starts from; required unless <see cref="Trace"/> is given (and for a <c>V</c> trace).</summary>
    public AttributionLossRequest? Loss { get; init; }
    /// <summary>Attribute to one internal node's pre-activation instead of a loss.</summary>
    public AttributionTraceRequest? Trace { get; init; }
    /// <summary>Names of loaded autoencoders spliced into the forward pass; their latents and error nodes become nodes.</summary>
    public string[]? Autoencoders { get; init; }
    /// <summary>Activations set to a value during the forward pass.</summary>
    public AttributionAblationRequest[]? Ablations { get; init; }
    /// <summary>TDB group ids; default <c>write_norm</c>, <c>act_times_grad</c>, <c>direction_write</c>, <c>activation</c>.</summary>
    public AttributionGroup[]? Groups { get; init; }
    /// <summary>Top and bottom k nodes per group and node kind (TDB's <c>top_and_bottom_k_for_node_table</c>); default 10.</summary>
    [DefaultValue(10)]
    public int TopK { get; init; } = 10;
    /// <summary>Also return every derived scalar's full tensor (<c>scalars</c>) and the logits.</summary>
    public bool Dense { get; init; }
    /// <summary>TDB's detachments (default true): the final layer norm's scale for a loss, the traced node's own scale for a trace.</summary>
    [DefaultValue(true)]
    public bool DetachLayerNormScale { get; init; } = true;
    /// <summary>Re-run the forward with each of the n nodes of largest |act × grad| set to zero; report the exact change.</summary>
    public int VerifyTopN { get; init; }
}

/// <summary>The loss the backward pass starts from (TDB's <c>LossFnConfig</c>).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record AttributionLossRequest
{
    /// <summary><c>logit_diff</c>, <c>probs</c> or <c>logprob</c>.</summary>
    public required AttributionLossName Name { get; init; }
    /// <summary>Target token ids (at least one).</summary>
    public required int[] TargetTokens { get; init; }
    /// <summary><c>logit_diff</c> only: distractor token ids (may be empty).</summary>
    public int[]? DistractorTokens { get; init; }
    /// <summary>Position whose logits the loss reads; negative counts from the end (default -1, TDB's only choice).</summary>
    [DefaultValue(-1)]
    public int Position { get; init; } = -1;
}

/// <summary>The node traced upstream (TDB's <c>NodeToTrace</c>).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record AttributionTraceRequest
{
    /// <summary><c>mlp_neuron</c>, <c>attention_head</c>, <c>mlp_autoencoder_latent</c>, <c>attention_autoencoder_latent</c>, <c>autoencoder_latent</c>.</summary>
    public required NodeType NodeType { get; init; }
    /// <summary>Layer of the node.</summary>
    public required int LayerIndex { get; init; }
    /// <summary><c>[token, unit]</c>, or <c>[q, k, head]</c> for a head.</summary>
    public required long[] TensorIndices { get; init; }
    /// <summary>Heads only: <c>QK</c>, <c>Q</c>, <c>K</c> or <c>V</c>.</summary>
    public AttributionTraceType? AttentionTraceType { get; init; }
    /// <summary>Latents: the spliced autoencoder, when several could serve.</summary>
    public string? Autoencoder { get; init; }
}

/// <summary>One ablation: the node's activation set to <see cref="Value"/> during the forward pass (TDB's <c>NodeAblation</c>).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record AttributionAblationRequest
{
    /// <summary><c>mlp_neuron</c>, <c>attention_head</c> or a latent node type.</summary>
    public required NodeType NodeType { get; init; }
    /// <summary>Layer of the node.</summary>
    public required int LayerIndex { get; init; }
    /// <summary>Integers or <c>"All"</c>: <c>[token, unit]</c>, <c>[q, k, head]</c>.</summary>
    public required AllOrIndex[] TensorIndices { get; init; }
    /// <summary>Value written (default 0).</summary>
    public double Value { get; init; }
    /// <summary>Latents: the spliced autoencoder, when several could serve.</summary>
    public string? Autoencoder { get; init; }
}

/// <summary>The answer for one sequence.</summary>
/// <param name="Tokens">Token ids.</param>
/// <param name="Loss">The loss (after ablations); null for a trace other than <c>V</c>.</param>
/// <param name="UnablatedLoss">The loss without ablations; present when ablations were given.</param>
/// <param name="TracedValue">The traced node's pre-activation (TDB's <c>activation_value_for_backward_pass</c>).</param>
/// <param name="Logits">With <c>dense</c>: <c>[tokens, n_vocab]</c>.</param>
/// <param name="NodeTable">Union of each group's top and bottom k nodes, each with its values in every group.</param>
/// <param name="Sums">Group, then TDB scalar name: per-token sums <c>[tokens]</c> (<c>[q, k]</c> for attention).</param>
/// <param name="Scalars">With <c>dense</c>: group, TDB scalar name, layer (<c>"0"</c>... or <c>"none"</c>): the full tensor.</param>
/// <param name="Verification">With <c>verifyTopN</c>: the verified nodes, largest |act × grad| first, each with its estimated and exact change.</param>
public sealed record AttributionResponse(
    int[] Tokens, double? Loss, double? UnablatedLoss, double? TracedValue, TensorPayload? Logits,
    AttributionNode[] NodeTable, IReadOnlyDictionary<string, IReadOnlyDictionary<string, TensorPayload>> Sums,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, TensorPayload>>>? Scalars,
    AttributionVerification[]? Verification)
{
    /// <summary>With <c>output.topK</c> and <c>dense</c>: the int32 positions of <see cref="Logits"/>'s values on the vocabulary axis.</summary>
    public TensorPayload? LogitsIndices => Logits?.Indices;
    /// <summary>The request's <c>allowSpecial</c>.</summary>
    public bool AllowSpecial { get; init; }
    /// <summary>The request's <c>prependBos</c> (when true, <see cref="Tokens"/> starts with 50256).</summary>
    public bool PrependBos { get; init; }
}

/// <summary>The answer for a batch: one <see cref="AttributionResponse"/> per sequence, in request order.</summary>
/// <param name="Results">One answer per sequence.</param>
public sealed record AttributionBatchResponse(AttributionResponse[] Results);

/// <summary>One row of the node table.</summary>
/// <param name="NodeType">Node kind (TDB spelling; <c>layer</c> is the token embedding at a position, indices <c>[t, 0]</c>).</param>
/// <param name="LayerIndex">Layer; null for <c>layer</c> nodes.</param>
/// <param name="TensorIndices"><c>[t, unit]</c> or <c>[q, k, head]</c>.</param>
/// <param name="Autoencoder">For latent and error nodes: the autoencoder's name.</param>
/// <param name="Values">The node's value in every requested group.</param>
public sealed record AttributionNode(
    AttributionNodeType NodeType, int? LayerIndex, long[] TensorIndices, string? Autoencoder, IReadOnlyDictionary<string, float> Values);

/// <summary>
/// One verified node (<c>verifyTopN</c>): the node as in the node table, its first-order estimate of the change when it
/// is set to zero, and the exact change measured with one more forward pass.
/// </summary>
/// <param name="NodeType">Node kind, as in <see cref="AttributionNode.NodeType"/>.</param>
/// <param name="LayerIndex">Layer; null for <c>layer</c> nodes.</param>
/// <param name="TensorIndices"><c>[t, unit]</c> or <c>[q, k, head]</c>.</param>
/// <param name="Autoencoder">For latent and error nodes: the autoencoder's name.</param>
/// <param name="Values">The node's value in every requested group (act × grad always included).</param>
/// <param name="ActTimesGrad">Its act × grad.</param>
/// <param name="Estimate">First-order change of the loss (or traced value) when the node is set to zero: <c>-act × grad</c>.</param>
/// <param name="LossChange">Exact change: loss (or traced value) with the node set to zero, minus the unchanged one.</param>
/// <param name="AblatedValue">Loss (or traced value) with the node set to zero.</param>
public sealed record AttributionVerification(
    AttributionNodeType NodeType, int? LayerIndex, long[] TensorIndices, string? Autoencoder, IReadOnlyDictionary<string, float> Values,
    double ActTimesGrad, double Estimate, double LossChange, double AblatedValue);

/// <summary>Loss functions (TDB's <c>LossFnName</c>, plus <c>logprob</c>).</summary>
[JsonConverter(typeof(StrictEnumConverter<AttributionLossName>))]
public enum AttributionLossName
{
    /// <summary>Mean target logit minus mean distractor logit at the position.</summary>
    [JsonStringEnumMemberName("logit_diff")] LogitDiff,
    /// <summary>Summed softmax probability of the targets at the position.</summary>
    [JsonStringEnumMemberName("probs")] Probs,
    /// <summary>Log of the summed probability of the targets (log-softmax for one target); beyond TDB.</summary>
    [JsonStringEnumMemberName("logprob")] Logprob,
}

/// <summary>TDB's group ids of the node table; values within a group are comparable across node kinds.</summary>
[JsonConverter(typeof(StrictEnumConverter<AttributionGroup>))]
public enum AttributionGroup
{
    /// <summary>Activations (probabilities for heads, 1 for token embeddings).</summary>
    [JsonStringEnumMemberName("activation")] Activation,
    /// <summary>Activation times the gradient of the loss (or traced value) with respect to it.</summary>
    [JsonStringEnumMemberName("act_times_grad")] ActTimesGrad,
    /// <summary>Norm of the node's write to the residual stream (signed for neurons and latents, as TDB).</summary>
    [JsonStringEnumMemberName("write_norm")] WriteNorm,
    /// <summary>The node's write projected on the gradient at the final residual (or the traced node's residual).</summary>
    [JsonStringEnumMemberName("direction_write")] DirectionWrite,
}

/// <summary>Which paths a traced head keeps attached (TDB's <c>AttentionTraceType</c>, with <c>V</c>).</summary>
[JsonConverter(typeof(StrictEnumConverter<AttributionTraceType>))]
public enum AttributionTraceType
{
    /// <summary>The pre-softmax score through Q and K.</summary>
    QK,
    /// <summary>The score through Q only.</summary>
    Q,
    /// <summary>The score through K only.</summary>
    K,
    /// <summary>The head's direct effect on the loss through V (needs a loss).</summary>
    V,
}

/// <summary>Kinds of node in a node table.</summary>
[JsonConverter(typeof(StrictEnumConverter<AttributionNodeType>))]
public enum AttributionNodeType
{
    /// <summary>The token embedding at a position (TDB's <c>layer</c> node type); indices <c>[t, 0]</c>.</summary>
    [JsonStringEnumMemberName("layer")] Layer,
    /// <summary>An MLP neuron, <c>[t, neuron]</c>.</summary>
    [JsonStringEnumMemberName("mlp_neuron")] MlpNeuron,
    /// <summary>An attention head's query-key pair, <c>[q, k, head]</c>.</summary>
    [JsonStringEnumMemberName("attention_head")] AttentionHead,
    /// <summary>A latent of an autoencoder on <c>mlp.post_act</c> or <c>resid.delta_mlp</c>, <c>[t, latent]</c>.</summary>
    [JsonStringEnumMemberName("mlp_autoencoder_latent")] MlpAutoencoderLatent,
    /// <summary>A latent of an autoencoder on <c>resid.delta_attn</c>, <c>[t, latent]</c>.</summary>
    [JsonStringEnumMemberName("attention_autoencoder_latent")] AttentionAutoencoderLatent,
    /// <summary>A latent of any other autoencoder family, <c>[t, latent]</c>.</summary>
    [JsonStringEnumMemberName("autoencoder_latent")] AutoencoderLatent,
    /// <summary>An MLP autoencoder's error: per neuron <c>[t, neuron]</c> on <c>mlp.post_act</c>, per token <c>[t, 0]</c> on <c>resid.delta_mlp</c>.</summary>
    [JsonStringEnumMemberName("mlp_autoencoder_error")] MlpAutoencoderError,
    /// <summary>An attention autoencoder's error, per token <c>[t, 0]</c>.</summary>
    [JsonStringEnumMemberName("attention_autoencoder_error")] AttentionAutoencoderError,
    /// <summary>Any other autoencoder's error, per token <c>[t, 0]</c>.</summary>
    [JsonStringEnumMemberName("autoencoder_error")] AutoencoderError,
}

/// <summary>A tensor index that is an integer or TDB's wildcard <c>"All"</c>.</summary>
/// <param name="Index">The index; null for <c>"All"</c>.</param>
[JsonConverter(typeof(AllOrIndexJsonConverter))]
public readonly record struct AllOrIndex(long? Index)
{
    /// <summary>The wildcard.</summary>
    public static AllOrIndex All => new(null);

    /// <summary>Whether this is <c>"All"</c>.</summary>
    public bool IsAll => Index is null;

    /// <summary>An integer index.</summary>
    public static implicit operator AllOrIndex(long index) => new(index);

    /// <inheritdoc />
    public override string ToString() => Index?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "All";
}

/// <summary>Reads a JSON integer or the string <c>"All"</c>; anything else is a <see cref="JsonException"/>.</summary>
public sealed class AllOrIndexJsonConverter : JsonConverter<AllOrIndex>
{
    /// <inheritdoc />
    public override AllOrIndex Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var index)) return new AllOrIndex(index);
        if (reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("All")) return AllOrIndex.All;
        throw new JsonException("expected an integer or \"All\"");
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, AllOrIndex value, JsonSerializerOptions options)
    {
        if (value.Index is long index) writer.WriteNumberValue(index);
        else writer.WriteStringValue("All");
    }
}

/// <summary>Token ids of one sequence (a flat JSON list) or of a batch (a list of lists).</summary>
[JsonConverter(typeof(TokenSequencesJsonConverter))]
public sealed class TokenSequences
{
    /// <summary>Creates the value.</summary>
    /// <param name="sequences">One or more sequences.</param>
    /// <param name="batched">Whether it was written as a list of lists.</param>
    public TokenSequences(IReadOnlyList<int[]> sequences, bool batched)
    {
        Sequences = sequences;
        Batched = batched;
    }

    /// <summary>The sequences (exactly one when not <see cref="Batched"/>).</summary>
    public IReadOnlyList<int[]> Sequences { get; }

    /// <summary>Whether the JSON was a list of lists.</summary>
    public bool Batched { get; }
}

/// <summary>Reads <c>[1, 2]</c> or <c>[[1, 2], [3]]</c>; integers only.</summary>
public sealed class TokenSequencesJsonConverter : JsonConverter<TokenSequences>
{
    /// <inheritdoc />
    public override TokenSequences Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("expected a list of token ids or a list of lists");
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray) return new TokenSequences([ReadInts(ref reader)], batched: false);
        var sequences = new List<int[]>();
        while (reader.TokenType == JsonTokenType.StartArray)
        {
            reader.Read();
            sequences.Add(ReadInts(ref reader));
            reader.Read();
        }
        if (reader.TokenType != JsonTokenType.EndArray) throw new JsonException("expected every element of a batch of tokens to be a list of token ids");
        return new TokenSequences(sequences, batched: true);
    }

    /// <summary>Reads integers up to the closing bracket, which is left current.</summary>
    private static int[] ReadInts(ref Utf8JsonReader reader)
    {
        var values = new List<int>();
        for (; reader.TokenType != JsonTokenType.EndArray; reader.Read())
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var value))
                throw new JsonException("expected token ids to be integers");
            values.Add(value);
        }
        return [.. values];
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, TokenSequences value, JsonSerializerOptions options)
    {
        if (!value.Batched)
        {
            WriteInts(writer, value.Sequences[0]);
            return;
        }
        writer.WriteStartArray();
        foreach (var sequence in value.Sequences) WriteInts(writer, sequence);
        writer.WriteEndArray();
    }

    private static void WriteInts(Utf8JsonWriter writer, int[] values)
    {
        writer.WriteStartArray();
        foreach (var v in values) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }
}
