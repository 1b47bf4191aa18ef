using System.Text.Json.Serialization;

namespace ReconService.Models.Wire;

/// <summary>
/// <c>output</c>, on every request whose answer holds tensors: which part of each answer tensor to return, and in
/// which element type. Applied on the server after the computation and before encoding, in this order:
/// <see cref="Positions"/>, <see cref="Indices"/>, <see cref="TopK"/>, <see cref="Dtype"/>
/// (<c>../shared/docs/api.md</c>, "Output selection and reduction").
/// </summary>
/// <remarks>
/// Every field is optional; an empty <c>output</c> returns the answer unreduced, as float32. With <see cref="TopK"/>,
/// each tensor field <c>X</c> of the answer holds the k kept values per row and a sibling <c>XIndices</c> (int32) holds
/// their positions on the unreduced last axis. Unknown members are refused by name.
/// </remarks>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record OutputSpec
{
    /// <summary>
    /// Token positions to keep, in the order given; negative counts from the end (<c>-1</c> is the last token). The
    /// axis is the tokens axis (after the batch axis, if any); for attention <c>[q, k, heads]</c> the query axis.
    /// </summary>
    public int[]? Positions { get; init; }

    /// <summary>Entries to keep on the last axis (neurons, latents, vocabulary entries, heads), in the order given.</summary>
    public int[]? Indices { get; init; }

    /// <summary>Keep the k largest entries of each row over the last axis (after <see cref="Indices"/>), largest first.</summary>
    public int? TopK { get; init; }

    /// <summary>What <see cref="TopK"/> ranks by: <c>value</c> (default) or <c>abs</c>; only with <see cref="TopK"/>.</summary>
    public TopKBy? By { get; init; }

    /// <summary>Element type of the returned values: <c>float32</c> (default), <c>float16</c> or <c>bfloat16</c>.</summary>
    public OutputDtype? Dtype { get; init; }
}

/// <summary>What <see cref="OutputSpec.TopK"/> ranks entries by.</summary>
[JsonConverter(typeof(StrictEnumConverter<TopKBy>))]
public enum TopKBy
{
    /// <summary>The largest values (most positive first).</summary>
    [JsonStringEnumMemberName("value")] Value,
    /// <summary>The largest absolute values; the values returned keep their sign.</summary>
    [JsonStringEnumMemberName("abs")] Abs,
}

/// <summary>Element type of returned values (<see cref="OutputSpec.Dtype"/>).</summary>
[JsonConverter(typeof(StrictEnumConverter<OutputDtype>))]
public enum OutputDtype
{
    /// <summary>IEEE 754 single precision (the default).</summary>
    [JsonStringEnumMemberName("float32")] Float32,
    /// <summary>IEEE 754 half precision: values beyond ±65504 become ±Infinity.</summary>
    [JsonStringEnumMemberName("float16")] Float16,
    /// <summary>bfloat16: float32's range with 8 bits of mantissa.</summary>
    [JsonStringEnumMemberName("bfloat16")] BFloat16,
}
