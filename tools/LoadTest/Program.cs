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
        var seed = Interlocked.Increment(ref next);
        if (seed >= options.MaxRequests) break;
        var body = Requests.Body(options.Endpoint, seed, options.Tokens, dModel, "base64");
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await http.PostAsync(options.Endpoint, new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            lock (statuses)
            {
                statuses[(int)response.StatusCode] = statuses.GetValueOrDefault((int)response.StatusCode) + 1;
                if (response.StatusCode == HttpStatusCode.OK) latencies.Add(ms);
            }
            if (response.StatusCode == HttpStatusCode.OK && seed % options.SampleEvery == 0)
            {
                var values = Requests.FirstTensor(JsonNode.Parse(text)!);
                lock (samples) samples.Add((seed, values));
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Interlocked.Increment(ref errors);
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
Console.WriteLine($"duration {elapsed:F1} s; requests {statuses.Values.Sum()}, served (200) {served} ({served / elapsed:F1}/s); transport errors {errors}");
Console.WriteLine("status counts: " + string.Join(", ", statuses.Select(kv => $"{kv.Key}: {kv.Value}")));
Console.WriteLine($"latency of 200s (ms): p50 {Percentile(0.50):F1}, p95 {Percentile(0.95):F1}, p99 {Percentile(0.99):F1}, max {(served == 0 ? double.NaN : latencies[^1]):F1}");
Console.WriteLine($"end: working set {end.WorkingSetMb:F1} MB, live tensors {end.LiveTensors}; queue admitted {end.Admitted}, rejected {end.Rejected}");
Console.WriteLine($"working set, mean of first 10 s {firstWs:F1} MB, last 10 s {lastWs:F1} MB, growth {lastWs - firstWs:F1} MB");
Console.WriteLine($"sampled answers checked against a sequential run: {samples.Count}, differing {wrong}");
var fiveXx = statuses.Where(kv => kv.Key >= 500).Sum(kv => kv.Value);
var ok = fiveXx == 0 && wrong == 0 && errors == 0;
Console.WriteLine(ok ? "RESULT: ok" : $"RESULT: FAILED ({fiveXx} 5xx, {wrong} wrong, {errors} transport errors)");
return ok ? 0 : 1;
