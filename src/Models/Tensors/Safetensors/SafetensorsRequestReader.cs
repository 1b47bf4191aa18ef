using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ReconService.Models.Tensors.Safetensors;

/// <summary>
/// A safetensors request (<c>Content-Type: application/x-safetensors</c>), read: its tensors as payloads over the body's
/// own bytes, and <see cref="Json"/>, the request as JSON with <c>{"tensor": "&lt;name&gt;"}</c> in each tensor field.
/// Bind <see cref="Json"/> inside <see cref="TensorPlaceholders.Begin"/> over <see cref="Tensors"/>.
/// </summary>
/// <param name="Tensors">The tensors by name (their field names), each a payload viewing the body (valid while the body is).</param>
/// <param name="Json">UTF-8 JSON of the request: the fields of <c>__metadata__["request"]</c> plus one placeholder per tensor.</param>
public sealed record SafetensorsRequest(IReadOnlyDictionary<string, TensorPayload> Tensors, byte[] Json);

/// <summary>
/// Reads a safetensors request body: the request's tensors under their field names (<c>residual</c>,
/// <c>writeVector</c>, <c>activations</c>; F32, F16 or BF16), every other field as JSON text in
/// <c>__metadata__["request"]</c> (<c>../shared/docs/api.md</c>, "Binary tensors").
/// </summary>
/// <remarks>
/// <para>This is the pipeline's <b>bind</b> step for safetensors bodies. The whole header is checked before anything
/// else; the tensors are not copied here: each payload views its bytes in the body, and they are copied once, into
/// the tensor, when the engine reads the input.</para>
/// <para>Errors are <see cref="SafetensorsException"/> (400) naming the field: <c>body</c> (too short, header length past
/// the end, a header that is not a JSON object, bytes after the data), <c>&lt;name&gt;.data_offsets</c> (out of range,
/// overlapping, gaps, a size that does not match the shape), <c>&lt;name&gt;.dtype</c> (not F32, F16 or BF16),
/// <c>&lt;name&gt;</c> (also given in the JSON), <c>__metadata__.request</c> (missing, or not a JSON object),
/// <c>__metadata__.&lt;key&gt;</c> (any other entry). A tensor the request does not have is refused by the strict
/// binding of <see cref="SafetensorsRequest.Json"/> as an unknown field, as in JSON.</para>
/// </remarks>
public static class SafetensorsRequestReader
{
    /// <summary>Largest header accepted by default (16 MiB); the body size limit bounds the rest.</summary>
    public const int DefaultMaxHeaderBytes = 16 << 20;

    /// <summary>Reads a request from its whole body.</summary>
    /// <param name="body">The request body.</param>
    /// <param name="maxHeaderBytes">Largest header accepted.</param>
    /// <exception cref="SafetensorsException">The body is not a valid request (400).</exception>
    public static SafetensorsRequest Read(ReadOnlyMemory<byte> body, int maxHeaderBytes = DefaultMaxHeaderBytes)
    {
        if (body.Length < 8) throw new SafetensorsException("body", $"expected at least 8 bytes (the header length), got {body.Length}");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(body.Span);
        if (headerLength > (ulong)(body.Length - 8))
            throw new SafetensorsException("body", $"header length {headerLength} runs past the end of the body ({body.Length - 8} bytes after the length)");
        if (headerLength > (ulong)maxHeaderBytes)
            throw new SafetensorsException("body", $"header length {headerLength} is over the limit of {maxHeaderBytes} bytes");
        var header = SafetensorsHeader.Parse(body.Span.Slice(8, (int)headerLength));
        var dataStart = 8 + (int)headerLength;
        var dataLength = body.Length - dataStart;
        if (header.DataLength > dataLength)
        {
            var last = header.Entries.First(e => e.End > dataLength);
            throw new SafetensorsException($"{last.Name}.data_offsets", $"[{last.Begin}, {last.End}] is out of range: the body holds {dataLength} bytes of data");
        }
        if (header.DataLength < dataLength)
            throw new SafetensorsException("body", $"{dataLength - header.DataLength} bytes follow the last tensor's data");

        var tensors = new Dictionary<string, TensorPayload>(StringComparer.Ordinal);
        foreach (var entry in header.Entries)
        {
            if (entry.Dtype is not ({ } dtype and (TensorDtype.Float32 or TensorDtype.Float16 or TensorDtype.BFloat16)))
                throw new SafetensorsException($"{entry.Name}.dtype", $"unsupported dtype {entry.DtypeName}: expected F32, F16 or BF16");
            tensors[entry.Name] = TensorPayload.FromBytes(dtype, entry.Shape, body.Slice(dataStart + (int)entry.Begin, (int)entry.ByteLength), name: entry.Name);
        }
        return new SafetensorsRequest(tensors, RequestJson(header));
    }

    /// <summary>The request's JSON: <c>__metadata__["request"]</c> with a placeholder in each tensor's field.</summary>
    private static byte[] RequestJson(SafetensorsHeader header)
    {
        foreach (var key in header.Metadata.Keys)
            if (key != SafetensorsMediaType.RequestJsonKey)
                throw new SafetensorsException($"__metadata__.{Truncate(key)}",
                    $"unknown entry; a request's __metadata__ holds only \"{SafetensorsMediaType.RequestJsonKey}\" (the other fields as JSON text)");
        const string field = "__metadata__." + SafetensorsMediaType.RequestJsonKey;
        if (!header.Metadata.TryGetValue(SafetensorsMediaType.RequestJsonKey, out var text))
            throw new SafetensorsException(field, "is missing: expected the request's other fields as JSON text (\"{}\" when there are none)");
        JsonObject request;
        try
        {
            request = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = 64 }) as JsonObject
                ?? throw new SafetensorsException(field, "expected a JSON object as text");
        }
        catch (JsonException e)
        {
            throw new SafetensorsException(field, $"is not valid JSON: {e.Message}");
        }
        foreach (var entry in header.Entries)
        {
            if (request.Any(member => string.Equals(member.Key, entry.Name, StringComparison.OrdinalIgnoreCase)))
                throw new SafetensorsException(entry.Name, $"given both as a tensor and in {field}");
            request[entry.Name] = new JsonObject { ["tensor"] = entry.Name };
        }
        return JsonSerializer.SerializeToUtf8Bytes(request);
    }

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
