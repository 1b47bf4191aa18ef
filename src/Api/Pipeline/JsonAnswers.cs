using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using ReconService.Models.Tensors;

namespace ReconService.Api.Pipeline;

/// <summary>JSON answers with the service's options (camelCase, tensors as base64 or lists, in their dtype).</summary>
public sealed class JsonAnswerEncoder(IOptions<JsonOptions> json) : IAnswerEncoder
{
    /// <inheritdoc />
    public string MediaType => "application/json";

    /// <inheritdoc />
    public long ExpectedBytes(long tensorBytes) => tensorBytes / 3 * 4; // base64; a list is longer

    /// <inheritdoc />
    public IAnswerBody Prepare<TResponse>(TResponse response, AnswerMemory memory) =>
        JsonAnswerBody.Create(response!, json.Value.SerializerOptions, memory);
}

/// <summary>
/// A JSON answer written in chunks straight from its tensors' memory, so that no encoded copy of the whole answer
/// exists: the answer is serialized once without its tensors' data (a small skeleton, with a marker where each
/// <c>data</c> value goes), and each tensor's base64 text (or nested lists) is encoded a chunk at a time as it is written.
/// </summary>
/// <remarks>
/// The marker is a raw byte 0x01, which JSON text never holds outside strings and which strings always escape, so the
/// skeleton cannot be confused by any answer content (token strings included).
/// </remarks>
public sealed class JsonAnswerBody : IAnswerBody
{
    /// <summary>Encoded bytes per write.</summary>
    private const int ChunkBytes = EncodedAnswer.WriteChunkBytes;

    /// <summary>List elements per write (a float is at most ~15 characters).</summary>
    private const int ListElementsPerChunk = 1 << 16;

    private const byte Marker = 0x01;
    private static readonly byte[] MarkerBytes = [Marker];
    private static readonly ConditionalWeakTable<JsonSerializerOptions, JsonSerializerOptions> Derived = new();

    private readonly byte[] _skeleton;
    private readonly int[] _markers;
    private readonly IReadOnlyList<TensorPayload> _tensors;
    private readonly AnswerMemory _memory;

    private JsonAnswerBody(byte[] skeleton, int[] markers, IReadOnlyList<TensorPayload> tensors, AnswerMemory memory)
    {
        _skeleton = skeleton;
        _markers = markers;
        _tensors = tensors;
        _memory = memory;
        long length = skeleton.Length - markers.Length;
        foreach (var tensor in tensors)
        {
            if (tensor.Encoding == TensorEncoding.List && !tensor.IsText)
            {
                Length = null;
                return;
            }
            length += 2 + (tensor.IsText ? tensor.Base64Utf8.Length : (Data(tensor).Length + 2L) / 3 * 4);
        }
        Length = length;
    }

    /// <summary>The answer to <paramref name="response"/> serialized with <paramref name="options"/>; takes <paramref name="memory"/>.</summary>
    public static JsonAnswerBody Create(object response, JsonSerializerOptions options, AnswerMemory memory)
    {
        var tensors = new List<TensorPayload>();
        var previous = PlaceholderConverter.Collected;
        PlaceholderConverter.Collected = tensors;
        var skeleton = new ArrayBufferWriter<byte>(4096);
        try
        {
            using var writer = new Utf8JsonWriter(skeleton, new JsonWriterOptions { Encoder = options.Encoder, SkipValidation = true });
            JsonSerializer.Serialize(writer, response, response.GetType(), Derived.GetValue(options, WithPlaceholders));
        }
        finally
        {
            PlaceholderConverter.Collected = previous;
        }
        var bytes = skeleton.WrittenSpan.ToArray();
        var markers = new List<int>(tensors.Count);
        for (var at = Array.IndexOf(bytes, Marker); at >= 0; at = Array.IndexOf(bytes, Marker, at + 1)) markers.Add(at);
        if (markers.Count != tensors.Count)
            throw new InvalidOperationException($"the answer's skeleton holds {markers.Count} markers for {tensors.Count} tensors");
        return new JsonAnswerBody(bytes, [.. markers], tensors, memory);
    }

    /// <inheritdoc />
    public string MediaType => "application/json; charset=utf-8";

    /// <inheritdoc />
    public long? Length { get; }

    /// <inheritdoc />
    public long HeldBytes => _memory.Bytes + _skeleton.Length;

    /// <inheritdoc />
    public async Task WriteToAsync(Stream destination, CancellationToken cancellationToken)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            var at = 0;
            for (var i = 0; i < _tensors.Count; i++)
            {
                await WriteChunked(destination, _skeleton.AsMemory(at, _markers[i] - at), cancellationToken);
                var tensor = _tensors[i];
                if (tensor.IsText) await WriteQuoted(destination, tensor.Base64Utf8, cancellationToken);
                else if (tensor.Encoding == TensorEncoding.List) await WriteList(destination, tensor, cancellationToken);
                else await WriteBase64(destination, Data(tensor), scratch, cancellationToken);
                at = _markers[i] + 1;
            }
            await WriteChunked(destination, _skeleton.AsMemory(at), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _memory.Dispose();

    /// <summary>A payload's little-endian element bytes (float32 values viewed as bytes).</summary>
    private static ReadOnlyMemory<byte> Data(TensorPayload tensor) =>
        tensor.HasValues ? Models.Tensors.Safetensors.TensorBytes.AsBytes(tensor.Values) : tensor.Bytes;

    private static async Task WriteChunked(Stream destination, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        for (var offset = 0; offset < bytes.Length; offset += ChunkBytes)
            await destination.WriteAsync(bytes.Slice(offset, Math.Min(ChunkBytes, bytes.Length - offset)), cancellationToken);
    }

    private static async Task WriteQuoted(Stream destination, ReadOnlyMemory<byte> text, CancellationToken cancellationToken)
    {
        await destination.WriteAsync("\""u8.ToArray(), cancellationToken);
        await WriteChunked(destination, text, cancellationToken);
        await destination.WriteAsync("\""u8.ToArray(), cancellationToken);
    }

    /// <summary><c>"&lt;base64&gt;"</c>, encoded a chunk at a time into <paramref name="scratch"/>.</summary>
    private static async Task WriteBase64(Stream destination, ReadOnlyMemory<byte> data, byte[] scratch, CancellationToken cancellationToken)
    {
        var perChunk = (ChunkBytes - 2) / 4 * 3;
        scratch[0] = (byte)'"';
        var used = 1;
        var offset = 0;
        do
        {
            var n = Math.Min(perChunk, data.Length - offset);
            var last = offset + n == data.Length;
            Base64.EncodeToUtf8(data.Span.Slice(offset, n), scratch.AsSpan(used), out _, out var written, isFinalBlock: last);
            used += written;
            offset += n;
            if (last) scratch[used++] = (byte)'"';
            await destination.WriteAsync(scratch.AsMemory(0, used), cancellationToken);
            used = 0;
        } while (offset < data.Length);
    }

    private static async Task WriteList(Stream destination, TensorPayload tensor, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(ChunkBytes + 4096);
        var list = new TensorListWriter(tensor);
        await using var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
        bool done;
        do
        {
            done = list.WriteSome(writer, ListElementsPerChunk);
            writer.Flush();
            await destination.WriteAsync(buffer.WrittenMemory, cancellationToken);
            buffer.ResetWrittenCount();
        } while (!done);
    }

    private static JsonSerializerOptions WithPlaceholders(JsonSerializerOptions options)
    {
        var derived = new JsonSerializerOptions(options);
        derived.Converters.Insert(0, new PlaceholderConverter());
        derived.MakeReadOnly(populateMissingResolver: true);
        return derived;
    }

    /// <summary>Writes a tensor's <c>dtype</c> and <c>shape</c>, and the marker in place of its <c>data</c>; collects it on this thread.</summary>
    private sealed class PlaceholderConverter : JsonConverter<TensorPayload>
    {
        [ThreadStatic] internal static List<TensorPayload>? Collected;

        public override TensorPayload Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("placeholders are written, never read");

        public override void Write(Utf8JsonWriter writer, TensorPayload value, JsonSerializerOptions options)
        {
            var collected = Collected ?? throw new InvalidOperationException("tensor placeholders are written only inside JsonAnswerBody.Create");
            writer.WriteStartObject();
            writer.WriteString("dtype", value.Dtype);
            writer.WriteStartArray("shape");
            foreach (var d in value.Shape) writer.WriteNumberValue(d);
            writer.WriteEndArray();
            writer.WritePropertyName("data");
            writer.WriteRawValue(MarkerBytes, skipInputValidation: true);
            writer.WriteEndObject();
            collected.Add(value);
        }
    }
}
