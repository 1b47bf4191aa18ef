using System.Net.Http.Headers;
using System.Text;
using BenchmarkDotNet.Attributes;
using ReconService.Bench.Benchmarks;
using static TorchSharp.torch;

namespace ReconService.Bench.Http;

/// <summary>
/// The same requests as <see cref="EngineBenchmarks"/> through the real service on loopback: the body (base64 JSON,
/// built once) is posted from an <see cref="HttpClient"/>, and the client reads the whole response into a receive buffer it
/// keeps across requests and decodes its tensor's base64 into float32 memory, so one invocation ends where the in-process call does: with the numbers in
/// this process.
/// </summary>
// Three warm-up calls per case, in-process and over HTTP alike: the first calls at a new size touch fresh memory
// (request and answer buffers, allocator arenas, pools), which a long-running service has already paid for.
[WarmupCount(3)]
public class HttpBenchmarks
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private byte[] _activations = [], _attnPost = [], _gradient = [], _jvp = [];
    // The client's buffers, kept across requests as a throughput-minded client would (grown when an answer is larger).
    private static readonly AnswerBuffer Answer = new();

    [ParamsSource(nameof(TokenValues))] public int Tokens { get; set; }
    [ParamsSource(nameof(BatchValues))] public int Batch { get; set; }

    public static IEnumerable<int> TokenValues => Workload.Tokens;
    public static IEnumerable<int> BatchValues => Workload.Batches;

    [GlobalSetup]
    public void Setup()
    {
        _ = ApiServer.Client;
        set_num_threads(BenchFixture.Threads);
        var (residual, write) = Workload.RandomInputs(Tokens, Batch);
        using var residualOwned = residual;
        using var writeOwned = write;
        var layer = Workload.Layer;
        _activations = Body(residual, null, $"\"layerIndex\":{layer},\"nodeType\":\"mlp_neuron\",\"preOrPostAct\":\"post\"");
        _attnPost = Body(residual, null, $"\"layerIndex\":{layer},\"nodeType\":\"attention_head\",\"preOrPostAct\":\"post\",\"attentionTraceType\":\"QK\"");
        _gradient = Body(residual, null, $"\"layerIndex\":{layer},\"nodeType\":\"mlp_neuron\",\"preOrPostAct\":\"post\",\"tensorIndices\":[{Tokens - 1},7]");
        _jvp = Body(residual, write, $"\"layerIndex\":{layer},\"nodeType\":\"mlp_neuron\",\"preOrPostAct\":\"post\"");
        Answer.ReserveDecoded((long)Batch * Math.Max(Tokens * 3072, Tokens * Tokens * 12) * sizeof(float));
        WarmServerOnce();
        // The floor moves exactly the bytes of one MLP post exchange: this body up, an answer as long as the service's down.
        MlpPost().GetAwaiter().GetResult();
        _mlpAnswerBytes = _lastLength;
        for (var i = 0; i < 20; i++) MlpPostTransportFloor().GetAwaiter().GetResult();
    }

    private static bool _warm;

    /// <summary>
    /// A long-running service is warm: before the first measurement, 60 small requests (16 tokens) to each endpoint let
    /// tiered compilation promote the managed request path (JSON, base64, Kestrel) as it would be after minutes of use.
    /// </summary>
    private void WarmServerOnce()
    {
        if (_warm) return;
        _warm = true;
        var warm = new HttpBenchmarks { Tokens = 16, Batch = 1 };
        warm.Setup();
        for (var i = 0; i < 60; i++)
            foreach (var call in new Func<Task>[] { warm.MlpPost, warm.AttentionPost, warm.MlpPostGradient, warm.MlpPostJvp })
                call().GetAwaiter().GetResult();
    }

    private int _mlpAnswerBytes, _lastLength;

    /// <summary>The MLP post exchange's bytes through a bare Kestrel endpoint (<see cref="BareServer"/>): the stack's floor.</summary>
    [Benchmark]
    public async Task MlpPostTransportFloor()
    {
        using var response = await Send(BareServer.Client, $"/bytes?bytes={_mlpAnswerBytes}", _activations);
        var length = await Answer.ReadAllAsync(response);
        if (length != _mlpAnswerBytes) throw new InvalidOperationException($"the bare server answered {length} bytes, not {_mlpAnswerBytes}");
    }

    [Benchmark] public Task MlpPost() => Post("/v1/activations", _activations, "activations");
    [Benchmark] public Task AttentionPost() => Post("/v1/activations", _attnPost, "activations");
    [Benchmark] public Task MlpPostGradient() => Post("/v1/gradients", _gradient, "gradient");
    [Benchmark] public Task MlpPostJvp() => Post("/v1/jvp", _jvp, "jvp");

    /// <summary>Stopwatch timestamps of the last request: sent, headers received, body read, tensor decoded (for <c>--probe-phases</c>).</summary>
    public static (long Sent, long Headers, long Read, long Decoded) LastClientStamps { get; private set; }

    private async Task Post(string path, byte[] body, string field)
    {
        var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        using var response = await Send(ApiServer.Client, path, body);
        var t1 = System.Diagnostics.Stopwatch.GetTimestamp();
        var length = _lastLength = await Answer.ReadAllAsync(response);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {Answer.Text(length)}");
        var t2 = System.Diagnostics.Stopwatch.GetTimestamp();
        Answer.DecodeData(length, field);
        LastClientStamps = (t0, t1, t2, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    /// <summary>Posts <paramref name="body"/> as JSON and returns once the answer's headers are in.</summary>
    private static async Task<HttpResponseMessage> Send(HttpClient client, string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = Json;
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    private static byte[] Body(Tensor residual, Tensor? write, string fields)
    {
        var sb = new StringBuilder("{\"residual\":").Append(Payload(residual));
        if (write is not null) sb.Append(",\"writeVector\":").Append(Payload(write));
        return Encoding.UTF8.GetBytes(sb.Append(',').Append(fields).Append('}').ToString());
    }

    private static string Payload(Tensor t) =>
        $"{{\"dtype\":\"float32\",\"shape\":[{string.Join(",", t.shape)}],\"data\":\"{Convert.ToBase64String(t.contiguous().bytes)}\"}}";
}
