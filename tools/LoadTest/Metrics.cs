using System.Text.Json.Nodes;

namespace ReconService.LoadTest;

/// <summary>One reading of <c>GET /v1/metrics</c>.</summary>
internal sealed record Metrics(double WorkingSetMb, long? LiveTensors, long Admitted, long Rejected)
{
    public static async Task<Metrics> ReadAsync(HttpClient http)
    {
        var node = JsonNode.Parse(await http.GetStringAsync("/v1/metrics"))!;
        return new Metrics(node["workingSetBytes"]!.GetValue<long>() / 1048576.0, node["liveTensors"]?.GetValue<long>(),
            node["queue"]!["admitted"]!.GetValue<long>(), node["queue"]!["rejected"]!.GetValue<long>());
    }

    /// <summary>Mean working set (MB) of the readings in the first and in the last <paramref name="window"/> seconds.</summary>
    public static (double First, double Last) FirstAndLastWindows(List<(double Seconds, Metrics Reading)> readings, double duration, double window)
    {
        var first = readings.Where(r => r.Seconds <= window).Select(r => r.Reading.WorkingSetMb).DefaultIfEmpty(double.NaN).Average();
        var last = readings.Where(r => r.Seconds >= duration - window).Select(r => r.Reading.WorkingSetMb).DefaultIfEmpty(double.NaN).Average();
        return (first, last);
    }
}
