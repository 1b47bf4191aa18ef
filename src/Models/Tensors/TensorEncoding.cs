using System.Text.Json.Serialization;

namespace ReconService.Models.Tensors;

/// <summary>How a response writes its tensors' <c>data</c>.</summary>
[JsonConverter(typeof(StrictEnumConverter<TensorEncoding>))]
public enum TensorEncoding
{
    /// <summary>Base64 of the row-major, little-endian float32 bytes (RFC 4648, padded).</summary>
    [JsonStringEnumMemberName("base64")] Base64,
    /// <summary>Nested JSON arrays following <c>shape</c>; non-finite values as <c>"-Infinity"</c>, <c>"Infinity"</c>, <c>"NaN"</c>.</summary>
    [JsonStringEnumMemberName("list")] List,
}
