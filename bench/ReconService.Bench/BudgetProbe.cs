using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;

namespace ReconService.Bench;

/// <summary>
/// <c>--probe-budget [--clients 32] [--tokens 1024] [--budget BYTES] [--concurrency 32] [--safetensors]</c>: that many
/// logprobs requests at once on the GPT-2-small-shaped weights, through the real service in this process (Kestrel,
/// loopback, cache off), with <c>Limits:MaxEngineMemoryBytes</c> and <c>Queue:Concurrency</c> as given (budget 0: the
/// service's default); JSON both ways, or with <c>--safetensors</c> safetensors both ways. Prints resident memory after
/// load (idle) and at its peak during the burst (VmHWM, reset after load), and the parts the service accounts for: the
/// peak of what the budget held at once (running requests' working-memory estimates plus the tensors of answers being
/// written, which stay in the budget until written), the peak bytes those answers held, and the request bodies held
/// by queued requests.
/// </summary>
internal static class BudgetProbe
{
    public static void Run(int clients, int tokens, long budget, int concurrency, bool safetensors = false)
    {
        Http.ApiServer.ExtraSettings["Queue:Concurrency"] = concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Http.ApiServer.ExtraSettings["Queue:Length"] = clients.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Http.ApiServer.ExtraSettings["Queue:TimeoutSeconds"] = "3600"; // a burst on a busy 2-core machine takes minutes
        if (budget > 0) Http.ApiServer.ExtraSettings["Limits:MaxEngineMemoryBytes"] = budget.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // A client of its own: the shared one gives up after 5 minutes, and a burst on a busy 2-core machine can take longer.
        using var client = new HttpClient { BaseAddress = Http.ApiServer.Client.BaseAddress, Timeout = TimeSpan.FromMinutes(30) };
        var dModel = JsonNode.Parse(client.GetStringAsync("/v1/model").GetAwaiter().GetResult())!["config"]!["dModel"]!.GetValue<int>();
        var (residual, write) = Benchmarks.Workload.RandomInputs(tokens, 1);
        var body = safetensors
            ? SafetensorsFile.Create([new("residual", new TensorBytes(TensorDtype.Float32, [tokens, dModel], residual.bytes.ToArray()))],
                new Dictionary<string, string> { ["request"] = "{}" }).ToArray()
            : System.Text.Encoding.UTF8.GetBytes(
                $"{{\"residual\":{{\"dtype\":\"float32\",\"shape\":[{tokens},{dModel}],\"data\":\"{Convert.ToBase64String(residual.bytes)}\"}}}}");
        var mediaType = safetensors ? SafetensorsMediaType.Name : "application/json";
        residual.Dispose();
        write.Dispose();

        GC.Collect();
        GC.WaitForPendingFinalizers();
        File.WriteAllText("/proc/self/clear_refs", "5"); // resets VmHWM: the peak from here on, not the load's
        var idle = Status("VmRSS");
        var peakSeen = idle;
        var stopwatch = Stopwatch.StartNew();
        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                peakSeen = Math.Max(peakSeen, Status("VmRSS"));
                await Task.Delay(20);
            }
        });
        var results = Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/logprobs") { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(mediaType);
            request.Headers.Accept.ParseAdd(mediaType);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await using var stream = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[1 << 16];
            long read = 0;
            for (int n; (n = await stream.ReadAsync(buffer)) > 0;) read += n;
            return (response.StatusCode, read);
        })).GetAwaiter().GetResult();
        var elapsed = stopwatch.Elapsed;
        done.Cancel();
        sampler.GetAwaiter().GetResult();
        var peak = Status("VmHWM");
        var metrics = JsonNode.Parse(client.GetStringAsync("/v1/metrics").GetAwaiter().GetResult())!;
        var queue = metrics["queue"]!;
        var answers = metrics["answers"]!;
        long MiB(long bytes) => bytes >> 20;
        Console.WriteLine($"{clients} concurrent /v1/logprobs ({mediaType} both ways), {tokens} tokens, d_model {dModel}: " +
                          $"{results.Count(r => r.StatusCode == HttpStatusCode.OK)} answered 200 in {elapsed.TotalSeconds:F1} s, " +
                          $"answer {MiB(results.Max(r => r.read))} MiB each; Queue:Concurrency {queue["concurrency"]}");
        Console.WriteLine($"resident after load (idle) {MiB(idle)} MiB; peak {MiB(peak)} MiB (VmHWM; sampled {MiB(peakSeen)} MiB); peak - idle {MiB(peak - idle)} MiB");
        Console.WriteLine($"budget (Limits:MaxEngineMemoryBytes) {MiB(queue["budgetBytes"]!.GetValue<long>())} MiB; " +
                          $"held in it at once (working-memory estimates + answers until written), at most {MiB(queue["reservedBytesPeak"]!.GetValue<long>())} MiB");
        Console.WriteLine($"answers being written held at once, at most {MiB(answers["writingBytesPeak"]!.GetValue<long>())} MiB " +
                          $"(tensor memory, inside the budget; cached answers' bytes beside it); " +
                          $"request bodies {MiB(body.Length)} MiB each, {clients} held while queued");
        Http.ApiServer.StopIfStarted();
    }

    /// <summary>A /proc/self/status field in bytes (VmRSS, VmHWM).</summary>
    private static long Status(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}
