using System.Buffers.Binary;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using ReconService.Models.Tensors.Safetensors;

namespace ReconService.Bench.Transport;

/// <summary>
/// The .NET client of the transport matrix: posts a prepared body (JSON or safetensors), reads the answer into a buffer
/// kept across calls, and ends where an in-process call does, with float32 values in this process: base64 decoded into
/// a buffer for JSON; for safetensors a view of the received bytes (no copy), found through the header.
/// </summary>
internal sealed class TransportClient(HttpClient http)
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly MediaTypeHeaderValue Safetensors = new(SafetensorsMediaType.Name);
    private readonly Http.AnswerBuffer _answer = new();

    /// <summary>Bytes of the last answer.</summary>
    public int LastLength { get; private set; }

    /// <summary>
    /// Posts and decodes; returns the number of float32 values of <paramref name="field"/>, or throws with the service's answer
    /// (and when <paramref name="expect"/>, e.g. <c>activationsIndices</c>, is not in the answer).
    /// </summary>
    public async Task<int> PostAsync(string path, byte[] body, bool safetensors, string field, string? expect = null)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = safetensors ? Safetensors : Json;
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        request.Headers.Accept.Add(safetensors ? new MediaTypeWithQualityHeaderValue(SafetensorsMediaType.Name) : new MediaTypeWithQualityHeaderValue("application/json"));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var length = LastLength = await _answer.ReadAllAsync(response);
        if (!response.IsSuccessStatusCode)
            throw new TransportRefused((int)response.StatusCode, _answer.Text(length, 300));
        var media = response.Content.Headers.ContentType?.MediaType;
        if (safetensors != (media == SafetensorsMediaType.Name))
            throw new TransportRefused(0, $"asked for {(safetensors ? "safetensors" : "JSON")}, got {media}");
        var values = safetensors ? ViewSafetensors(_answer.Received(length), field) : _answer.DecodeData(length, field);
        if (expect is not null && _answer.Received(length).IndexOf(System.Text.Encoding.UTF8.GetBytes($"\"{expect}\"")) < 0)
            throw new TransportRefused(0, $"the service ignored output: no {expect} in the answer");
        return values;
    }

    /// <summary>Posts to the bare transport floor and reads an answer of <paramref name="answerBytes"/> bytes.</summary>
    public async Task FloorAsync(HttpClient bare, byte[] body, long answerBytes)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = Safetensors;
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/bytes?bytes={answerBytes}") { Content = content };
        using var response = await bare.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var length = await _answer.ReadAllAsync(response);
        if (length != answerBytes) throw new InvalidOperationException($"the bare server answered {length} bytes, not {answerBytes}");
    }

    private static int ViewSafetensors(ReadOnlySpan<byte> file, string field)
    {
        var n = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        var header = SafetensorsHeader.Parse(file.Slice(8, n));
        var entry = header.Entries.FirstOrDefault(e => e.Name == field) ?? throw new InvalidOperationException($"no tensor {field} in the answer");
        var values = MemoryMarshal.Cast<byte, float>(file.Slice(8 + n + (int)entry.Begin, (int)entry.ByteLength));
        return values.Length;
    }
}

/// <summary>The service refused a call (status 0: answered in another media type than asked).</summary>
internal sealed class TransportRefused(int status, string answer) : Exception($"{status}: {answer}")
{
    public int Status { get; } = status;
}
