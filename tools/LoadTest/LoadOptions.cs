using System.Globalization;
using System.Net;

namespace ReconService.LoadTest;

/// <summary>Command line: <c>--url http://127.0.0.1:5077 --endpoint /v1/activations --clients 32 --seconds 60 --tokens 64</c>.</summary>
internal sealed record LoadOptions(Uri Url, string Endpoint, int Clients, int Seconds, int Tokens, int MaxRequests, int SampleEvery, string? ApiKey)
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
            values.GetValueOrDefault("api-key"));
    }
}
