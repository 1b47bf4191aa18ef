using System.Globalization;
using System.Net;

namespace ReconService.LoadTest;

/// <summary>
/// Command line: <c>--url http://127.0.0.1:5077 --endpoint /v1/activations --clients 32 --seconds 60 --tokens 64</c>;
/// <c>--distinct N</c> cycles over N request bodies (so repeats can be answered from a cache; default: every body new);
/// <c>--require-ok 1</c> counts every answer but 200 as a failure (default: only 5xx and transport errors fail the run);
/// <c>--client-retries N</c> sends a request again after a transport error, up to N times (default 0), and counts those retries.
/// </summary>
internal sealed record LoadOptions(Uri Url, string Endpoint, int Clients, int Seconds, int Tokens, int MaxRequests, int SampleEvery, string? ApiKey,
    int Distinct, bool RequireOk, int ClientRetries)
{
    public static LoadOptions? Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2) values[args[i].TrimStart('-')] = args[i + 1];
        string Get(string key, string fallback) => values.GetValueOrDefault(key, fallback);
        int Int(string key, int fallback, int max) =>
            Math.Clamp(int.Parse(Get(key, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture), 1, max);

        var url = new Uri(Get("url", "http://127.0.0.1:5077"));
        if (!IPAddress.TryParse(url.Host, out var address) ? url.Host != "localhost" : !IPAddress.IsLoopback(address))
        {
            Console.Error.WriteLine($"refusing {url}: loopback addresses only (127.0.0.1, ::1, localhost)");
            return null;
        }
        return new LoadOptions(url, Get("endpoint", "/v1/activations"), Int("clients", 32, 512), Int("seconds", 60, 3600),
            Int("tokens", 64, 4096), Int("max-requests", 1_000_000, 10_000_000), Int("sample-every", 50, 1_000_000),
            values.GetValueOrDefault("api-key"), values.ContainsKey("distinct") ? Int("distinct", 1, 10_000_000) : 0,
            Get("require-ok", "0") is "1" or "true", Math.Clamp(int.Parse(Get("client-retries", "0"), CultureInfo.InvariantCulture), 0, 10));
    }
}
