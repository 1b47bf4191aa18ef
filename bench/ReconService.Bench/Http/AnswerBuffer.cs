using System.Buffers.Text;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace ReconService.Bench.Http;

/// <summary>
/// What a throughput-minded benchmark client keeps across requests: a receive buffer for the answer's bytes and a buffer
/// its base64 tensor is decoded into, each grown when an answer is larger. Shared by the HTTP benchmarks and the
/// transport matrix's .NET client, so both clients do the same work per answer.
/// </summary>
internal sealed class AnswerBuffer
{
    private byte[] _received = new byte[1 << 20];
    private byte[] _decoded = new byte[1 << 20];

    /// <summary>The first <paramref name="length"/> bytes of the last answer read.</summary>
    public ReadOnlySpan<byte> Received(int length) => _received.AsSpan(0, length);

    /// <summary>The last answer's first bytes as text, for error messages.</summary>
    public string Text(int length, int most = int.MaxValue) => System.Text.Encoding.UTF8.GetString(_received, 0, Math.Min(length, most));

    /// <summary>Makes the decode buffer at least <paramref name="bytes"/> long now, so no measured call grows it.</summary>
    public void ReserveDecoded(long bytes)
    {
        if (_decoded.Length < bytes) _decoded = new byte[bytes];
    }

    /// <summary>Reads the whole answer body into the receive buffer; returns its length in bytes.</summary>
    public async Task<int> ReadAllAsync(HttpResponseMessage response)
    {
        await using var stream = await response.Content.ReadAsStreamAsync();
        var length = 0;
        while (true)
        {
            if (length == _received.Length) Array.Resize(ref _received, _received.Length * 2);
            var read = await stream.ReadAsync(_received.AsMemory(length));
            if (read == 0) return length;
            length += read;
        }
    }

    /// <summary>What a client does with a JSON answer: finds <c>field.data</c>, decodes its base64 into float32 memory, and returns how many values it holds.</summary>
    /// <exception cref="InvalidOperationException">No <c>field.data</c>, or it is not whole float32 values in base64.</exception>
    public int DecodeData(int length, string field)
    {
        var reader = new Utf8JsonReader(Received(length));
        var inField = false;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName) continue;
            if (!inField) { inField = reader.ValueTextEquals(field); continue; }
            if (!reader.ValueTextEquals("data")) continue;
            reader.Read();
            ReserveDecoded(Base64.GetMaxDecodedFromUtf8Length(reader.ValueSpan.Length));
            var status = Base64.DecodeFromUtf8(reader.ValueSpan, _decoded, out _, out var written);
            if (status != System.Buffers.OperationStatus.Done || written == 0 || written % sizeof(float) != 0)
                throw new InvalidOperationException($"{field}.data did not decode ({status})");
            return MemoryMarshal.Cast<byte, float>(_decoded.AsSpan(0, written)).Length;
        }
        throw new InvalidOperationException($"no {field}.data in the answer");
    }
}
