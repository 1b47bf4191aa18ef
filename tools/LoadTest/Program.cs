using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ReconService.LoadTest;

// Load and soak run against a running service on loopback. Bounded: stops after --seconds or --max-requests.
var options = LoadOptions.Parse(args);
if (options is null) return 2;

using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Clients + 4 })
{
    BaseAddress = options.Url,
    Timeout = TimeSpan.FromSeconds(options.Seconds + 120),
};
if (options.ApiKey is not null) http.DefaultRequestHeaders.Add("X-API-Key", options.ApiKey);

var model = JsonNode.Parse(await http.GetStringAsync("/v1/model"))!;
var dModel = model["config"]!["dModel"]!.GetValue<int>();
var start = await Metrics.ReadAsync(http);
Console.WriteLine($"target {options.Url}{options.Endpoint}: {options.Clients} clients, {options.Seconds} s, {options.Tokens} tokens, d_model {dModel}");
Console.WriteLine($"start: working set {start.WorkingSetMb:F1} MB, live tensors {start.LiveTensors}");

var latencies = new List<double>();
var statuses = new SortedDictionary<int, int>();
var samples = new List<(int Seed, float[] Values)>();
var errors = 0;
var clientRetries = 0;
var failureDetails = new List<string>();
var cacheResults = new SortedDictionary<string, int>(StringComparer.Ordinal);
var upstreams = new SortedDictionary<string, int>(StringComparer.Ordinal);
var next = -1;
var clock = Stopwatch.StartNew();
var stopAt = TimeSpan.FromSeconds(options.Seconds);
var memory = new List<(double Seconds, Metrics Reading)> { (0, start) };

var sampler = Task.Run(async () =>
{
    while (clock.Elapsed < stopAt)
    {
        await Task.Delay(1000);
        try { var m = await Metrics.ReadAsync(http); lock (memory) memory.Add((clock.Elapsed.TotalSeconds, m)); }
        catch (HttpRequestException) { }
    }
});

var clients = Enumerable.Range(0, options.Clients).Select(_ => Task.Run(async () =>
{
    while (clock.Elapsed < stopAt)
    {
        var n = Interlocked.Increment(ref next);
        if (n >= options.MaxRequests) break;
        // With --distinct, bodies repeat (seed n mod N), so a cache in front of the engine can answer them.
        var seed = options.Distinct > 0 ? n % options.Distinct : n;
        var body = Requests.Body(options.Endpoint, seed, options.Tokens, dModel, "base64");
        var started = Stopwatch.GetTimestamp();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var response = await http.PostAsync(options.Endpoint, new StringContent(body, Encoding.UTF8, "application/json"));
                var text = await response.Content.ReadAsStringAsync();
                var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                lock (statuses)
                {
                    statuses[(int)response.StatusCode] = statuses.GetValueOrDefault((int)response.StatusCode) + 1;
                    if (response.StatusCode == HttpStatusCode.OK) latencies.Add(ms);
                    else if (failureDetails.Count < 5) failureDetails.Add($"{(int)response.StatusCode}: {text[..Math.Min(text.Length, 200)]}");
                    Count(cacheResults, Header(response, "X-Cache") ?? "(none)");
                    Count(upstreams, Header(response, "X-Upstream") ?? "(none)");
                }
                if (response.StatusCode == HttpStatusCode.OK && n % options.SampleEvery == 0)
                {
                    var values = Requests.FirstTensor(JsonNode.Parse(text)!);
                    lock (samples) samples.Add((seed, values));
                }
                break;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // --client-retries: a connection lost mid-answer (a replica that died while writing it, which no proxy can
                // retry once it has forwarded the headers) is sent again, as a client of idempotent endpoints would.
                var retry = attempt < options.ClientRetries;
                Interlocked.Increment(ref retry ? ref clientRetries : ref errors);
                lock (statuses) if (failureDetails.Count < 5) failureDetails.Add($"transport{(retry ? " (retried)" : "")}: {e.Message}");
                if (!retry) break;
            }
        }
    }
})).ToArray();
await Task.WhenAll(clients);
var elapsed = clock.Elapsed.TotalSeconds;
await sampler;
var end = await Metrics.ReadAsync(http);

// The sequential reference run asks for list encoding, so the service's response cache cannot answer it.
var wrong = 0;
foreach (var (seed, values) in samples.OrderBy(s => s.Seed))
{
    var body = Requests.Body(options.Endpoint, seed, options.Tokens, dModel, "list");
    using var response = await http.PostAsync(options.Endpoint, new StringContent(body, Encoding.UTF8, "application/json"));
    var reference = Requests.FirstTensor(JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    if (!Requests.SameValues(values, reference)) wrong++;
}

latencies.Sort();
var served = latencies.Count;
double Percentile(double p) => served == 0 ? double.NaN : latencies[Math.Min(served - 1, (int)Math.Ceiling(p * served) - 1)];
var (firstWs, lastWs) = Metrics.FirstAndLastWindows(memory, elapsed, 10);
Console.WriteLine($"duration {elapsed:F1} s; requests {statuses.Values.Sum()}, served (200) {served} ({served / elapsed:F1}/s); transport errors {errors}" +
                  (options.ClientRetries > 0 ? $" (after {clientRetries} client retries)" : ""));
Console.WriteLine("status counts: " + string.Join(", ", statuses.Select(kv => $"{kv.Key}: {kv.Value}")));
Console.WriteLine($"latency of 200s (ms): p50 {Percentile(0.50):F1}, p95 {Percentile(0.95):F1}, p99 {Percentile(0.99):F1}, max {(served == 0 ? double.NaN : latencies[^1]):F1}");
Console.WriteLine($"end: working set {end.WorkingSetMb:F1} MB, live tensors {end.LiveTensors}; queue admitted {end.Admitted}, rejected {end.Rejected}");
Console.WriteLine($"working set, mean of first 10 s {firstWs:F1} MB, last 10 s {lastWs:F1} MB, growth {lastWs - firstWs:F1} MB");
Console.WriteLine($"sampled answers checked against a sequential run: {samples.Count}, differing {wrong}");
Console.WriteLine("X-Cache: " + string.Join(", ", cacheResults.Select(kv => $"{kv.Key} {kv.Value}")));
if (upstreams.Keys.Any(k => k != "(none)"))
    Console.WriteLine($"X-Upstream (a proxy's replicas; \"a, b\" = retried on b): {string.Join("; ", upstreams.Select(kv => $"{kv.Key}: {kv.Value}"))}; " +
                      $"retried {upstreams.Where(kv => kv.Key.Contains(',')).Sum(kv => kv.Value)}");
foreach (var detail in failureDetails) Console.WriteLine($"failure: {detail}");
var requests = statuses.Values.Sum();
var fiveXx = statuses.Where(kv => kv.Key >= 500).Sum(kv => kv.Value);
var failed = (options.RequireOk ? requests - served : fiveXx) + errors;
// One line for scripts (deploy/cluster-test.sh): what a client saw.
Console.WriteLine(FormattableString.Invariant(
    $"SUMMARY requests={requests + errors} ok={served} failed={failed} transport_errors={errors} client_retries={clientRetries} wrong={wrong} p50_ms={Percentile(0.50):F1} p99_ms={Percentile(0.99):F1} cache_hits={cacheResults.GetValueOrDefault("hit")} cache_misses={cacheResults.GetValueOrDefault("miss")}"));
var ok = failed == 0 && wrong == 0;
Console.WriteLine(ok ? "RESULT: ok" : $"RESULT: FAILED ({failed} failed{(options.RequireOk ? " (non-200 or transport error)" : " (5xx or transport error)")}, {wrong} wrong)");
return ok ? 0 : 1;

static string? Header(HttpResponseMessage response, string name) =>
    response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

static void Count(SortedDictionary<string, int> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;
