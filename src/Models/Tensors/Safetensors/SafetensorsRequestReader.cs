using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ReconService.Models.Tensors.Safetensors;

/// <summary>
/// A safetensors request (<c>Content-Type: application/x-safetensors</c>), read: its tensors are already in the memory
/// the caller gave for them; <see cref="Json"/> is the request as JSON, with a placeholder in each tensor's place.
/// </summary>
/// <param name="Tensors">The tensors, in data order.</param>
/// <param name="Json">
/// UTF-8 JSON of the request: the fields of <c>__metadata__["request"]</c>, plus one member per tensor, named after it,
/// holding <c>{"tensor": "&lt;name&gt;", "dtype": "float32", "shape": [...]}</c>. A binder for the tensor input type
/// reads the placeholder and looks the tensor up by name among those the caller allocated.
/// </param>
public sealed record SafetensorsRequest(IReadOnlyList<SafetensorsEntry> Tensors, ReadOnlyMemory<byte> Json);

/// <summary>
/// Reads a safetensors request body: the request's tensors under their field names (<c>residual</c>,
/// <c>writeVector</c>, <c>activations</c>; F32, F16 or BF16), every other field as JSON text in
/// <c>__metadata__["request"]</c> (<c>../shared/docs/api.md</c>, "Binary tensors").
/// </summary>
/// <remarks>
/// <para>This is the pipeline's <b>bind</b> step for safetensors bodies. The whole header is checked before any tensor
/// memory is asked for; then each tensor's bytes go from the body straight into the memory that
/// <c>destination</c> returns for it (the Engine's tensor adapter allocates the tensor and returns its storage).</para>
/// <para>Errors are <see cref="SafetensorsException"/> (400) naming the field: <c>body</c> (too short, header length past
/// the end, bytes after the data, a body shorter than the offsets say), <c>&lt;name&gt;.data_offsets</c> (out of range,
/// overlapping, gaps, a size that does not match the shape), <c>&lt;name&gt;.dtype</c> (not F32, F16 or BF16),
/// <c>&lt;name&gt;</c> (not a tensor field of this request, or also given in the JSON), <c>__metadata__.request</c>
/// (missing, or not a JSON object). Tensor fields the request requires but the file lacks are left to the binder, which
/// reports them as for JSON. Other <c>__metadata__</c> keys are ignored.</para>
/// </remarks>
public static class SafetensorsRequestReader
{
    /// <summary>Largest header accepted by default (16 MiB); the body size limit bounds the rest.</summary>
    public const int DefaultMaxHeaderBytes = 16 << 20;

    /// <summary>Reads a request from <paramref name="body"/>.</summary>
    /// <param name="body">The request body, positioned at its start.</param>
    /// <param name="contentLength">The body's length when known (<c>Content-Length</c>): offsets are then checked before any data is read.</param>
    /// <param name="tensorFields">Names of the request's tensor fields (e.g. <c>residual</c>, <c>writeVector</c>).</param>
    /// <param name="destination">Memory of exactly <see cref="SafetensorsEntry.ByteLength"/> bytes to read each tensor into, asked in data order.</param>
    /// <param name="maxHeaderBytes">Largest header accepted.</param>
    /// <param name="cancellationToken">Cancels the reads.</param>
    /// <exception cref="SafetensorsException">The body is not a valid request (400).</exception>
    public static async Task<SafetensorsRequest> ReadAsync(Stream body, long? contentLength, IReadOnlyCollection<string> tensorFields,
        Func<SafetensorsEntry, Memory<byte>> destination, int maxHeaderBytes = DefaultMaxHeaderBytes, CancellationToken cancellationToken = default)
    {
        var prefix = new byte[8];
        var got = await body.ReadAtLeastAsync(prefix, 8, throwOnEndOfStream: false, cancellationToken);
        if (got < 8) throw new SafetensorsException("body", $"expected at least 8 bytes (the header length), got {got}");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (contentLength is { } total && headerLength > (ulong)(total - 8))
            throw new SafetensorsException("body", $"header length {headerLength} runs past the end of the body ({total - 8} bytes after the length)");
        if (headerLength > (ulong)maxHeaderBytes)
            throw new SafetensorsException("body", $"header length {headerLength} is over the limit of {maxHeaderBytes} bytes");

        var headerBytes = ArrayPool<byte>.Shared.Rent((int)headerLength);
        SafetensorsHeader header;
        try
        {
            var read = await body.ReadAtLeastAsync(headerBytes.AsMemory(0, (int)headerLength), (int)headerLength, throwOnEndOfStream: false, cancellationToken);
            if (read < (int)headerLength)
                throw new SafetensorsException("body", $"header length {headerLength} runs past the end of the body ({read} bytes after the length)");
            header = SafetensorsHeader.Parse(headerBytes.AsSpan(0, (int)headerLength));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(headerBytes);
        }

        if (contentLength is { } length)
        {
            var dataLength = length - 8 - (long)headerLength;
            if (header.DataLength > dataLength)
            {
                var last = header.Entries[^1];
                throw new SafetensorsException($"{last.Name}.data_offsets",
                    $"[{last.Begin}, {last.End}] is out of range: the body holds {dataLength} bytes of data");
            }
            if (header.DataLength < dataLength)
                throw new SafetensorsException("body", $"{dataLength - header.DataLength} bytes follow the last tensor's data");
        }
        var json = RequestJson(header, tensorFields);

        foreach (var entry in header.Entries)
        {
            var memory = destination(entry);
            if (memory.Length != entry.ByteLength)
                throw new InvalidOperationException($"destination for {entry.Name} holds {memory.Length} bytes, expected {entry.ByteLength}");
            var read = await body.ReadAtLeastAsync(memory, memory.Length, throwOnEndOfStream: false, cancellationToken);
            if (read < memory.Length)
                throw new SafetensorsException($"{entry.Name}.data_offsets",
                    $"[{entry.Begin}, {entry.End}] is out of range: the body ends at byte {entry.Begin + read} of the data");
        }
        var probe = new byte[1];
        if (await body.ReadAsync(probe, cancellationToken) > 0)
            throw new SafetensorsException("body", "bytes follow the last tensor's data");
        return new SafetensorsRequest(header.Entries, json);
    }

    /// <summary>Checks the tensors against the request's tensor fields and merges placeholders into the request's JSON.</summary>
    private static byte[] RequestJson(SafetensorsHeader header, IReadOnlyCollection<string> tensorFields)
    {
        foreach (var entry in header.Entries)
        {
            if (!tensorFields.Contains(entry.Name))
                throw new SafetensorsException(entry.Name,
                    tensorFields.Count == 0
                        ? "this request has no tensor fields"
                        : $"not a tensor field of this request (expected {string.Join(", ", tensorFields)})");
            if (entry.Dtype is not (TensorDtype.Float32 or TensorDtype.Float16 or TensorDtype.BFloat16))
                throw new SafetensorsException($"{entry.Name}.dtype", $"unsupported dtype {entry.DtypeName}: expected F32, F16 or BF16");
        }
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
            request[entry.Name] = new JsonObject
            {
                ["tensor"] = entry.Name,
                ["dtype"] = entry.Dtype!.Value.WireName(),
                ["shape"] = new JsonArray(entry.Shape.Select(d => (JsonNode)d).ToArray()),
            };
        }
        return JsonSerializer.SerializeToUtf8Bytes(request);
    }
}
