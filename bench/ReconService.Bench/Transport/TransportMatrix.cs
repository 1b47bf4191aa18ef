using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using ReconService.Bench.Benchmarks;
using ReconService.Bench.Http;
using ReconService.Engine.Reduction;
using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Bench.Transport;

/// <summary>
/// Issue 11's transport benchmark (<c>--transport</c>): for MLP post and attention probabilities at 64/256/1024 tokens,
/// batch 1 and 8, and MLP post cut to its top 32 per row, each round makes one call of every kind in turn: the engine
/// in-process, the .NET client over JSON and over safetensors, the bare-transport floor (the safetensors exchange's bytes
/// through a bare Kestrel endpoint), and the Python client over JSON and over safetensors (through
/// <c>bench/python/client_worker.py</c>). Medians per kind; ratios within the row. A transport the service refuses
/// (415, or an answer without the top-k indices it was asked for) is reported as such and not called again.
/// </summary>
internal static class TransportMatrix
{
    private const string Path = "/v1/activations";
    private static readonly string[] Kinds = ["in-process", ".NET JSON", ".NET safetensors", "floor", "Python JSON", "Python safetensors"];

    public static void Run(bool smoke, string python)
    {
        var started = DateTime.UtcNow;
        var loadAtStart = Report.LoadAverage();
        var engine = ApiServer.Engine;
        var dotnet = new TransportClient(ApiServer.Client);
        var refused = new Dictionary<string, string>();
        using var worker = PythonWorker.TryStart(python, ApiServer.Client.BaseAddress!.ToString().TrimEnd('/'), out var noPython);
        if (worker is null)
        {
            refused["Python JSON"] = refused["Python safetensors"] = $"no Python worker ({noPython})";
        }
        var folder = Directory.CreateTempSubdirectory("recon-transport-");
        var table = new StringBuilder();
        table.AppendLine("| case | in-process | .NET JSON | .NET safetensors | floor | Python JSON | Python safetensors | Python decode (st) "
                         + "| .NET JSON / in | .NET st / in | (in + floor) / in | .NET st / (in + floor) | Python st / in | Python JSON / in |");
        table.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", 13)));
        foreach (var (op, tokens, batch, topK) in Cases(smoke))
        {
            using var c = new TransportCase(op, tokens, batch, topK);
            var residualName = $"r{tokens}x{batch}";
            var file = System.IO.Path.Combine(folder.FullName, residualName + ".safetensors");
            File.WriteAllBytes(file, SafetensorsFile.Create([new("residual", new TensorBytes(TensorDtype.Float32, c.Residual.shape, c.Residual.bytes.ToArray()))]).ToArray());
            worker?.Ask(new JsonObject { ["cmd"] = "load", ["name"] = residualName, ["file"] = file });
            var samples = Kinds.ToDictionary(k => k, _ => new List<double>());
            var decode = new List<double>();
            var expect = topK is null ? null : "activationsIndices";
            var reduction = topK is { } k ? OutputReduction.From(new OutputSpec { TopK = k }) : OutputReduction.None;
            string Key(string kind) => topK is null ? kind : kind + " (top-k)";
            var rounds = smoke ? 2 : tokens * batch <= 256 ? 30 : tokens * batch <= 2048 ? 15 : 6;
            for (var round = 0; round < rounds + 2; round++)
            {
                var measured = round >= 2; // two warm-up rounds per case
                Time("in-process", () =>
                {
                    using var scope = NewDisposeScope();
                    reduction.Apply("activations", engine.Activations(c.Residual, c.Spec), c.Batch == 1 ? 0 : 1);
                });
                Time(".NET JSON", () => dotnet.PostAsync(Path, c.JsonBody, false, "activations", expect).GetAwaiter().GetResult());
                Time(".NET safetensors", () => dotnet.PostAsync(Path, c.SafetensorsBody, true, "activations", expect).GetAwaiter().GetResult());
                Time("floor", () => dotnet.FloorAsync(BareServer.Client, c.SafetensorsBody, c.AnswerBytes).GetAwaiter().GetResult());
                foreach (var transport in new[] { "json", "safetensors" })
                {
                    var kind = transport == "json" ? "Python JSON" : "Python safetensors";
                    if (worker is null || refused.ContainsKey(kind) || refused.ContainsKey(Key(kind))) continue;
                    try
                    {
                        var answer = worker.Ask(new JsonObject
                        {
                            ["cmd"] = "call", ["transport"] = transport, ["path"] = Path, ["fields"] = JsonNode.Parse(c.FieldsJson),
                            ["residual"] = residualName, ["expect"] = expect,
                        });
                        if (answer["error"] is { } error) throw new TransportRefused(0, error.GetValue<string>()) { Data = { ["kind"] = kind } };
                        if (!measured) continue;
                        samples[kind].Add(answer["ms"]!.GetValue<double>());
                        if (transport == "safetensors") decode.Add(answer["decode_ms"]!.GetValue<double>());
                    }
                    catch (TransportRefused e)
                    {
                        refused[Refusal(e)] = Tidy(e.Message);
                    }
                }

                string Refusal(TransportRefused e) => e.Message.Contains("415") ? KindOf(e) : Key(KindOf(e));
                string KindOf(TransportRefused e) => (string)e.Data["kind"]!;

                void Time(string kind, Action call)
                {
                    if (refused.ContainsKey(kind) || refused.ContainsKey(Key(kind))) return;
                    try
                    {
                        var sw = Stopwatch.StartNew();
                        call();
                        if (measured) samples[kind].Add(sw.Elapsed.TotalMilliseconds);
                    }
                    catch (TransportRefused e)
                    {
                        e.Data["kind"] = kind;
                        refused[Refusal(e)] = Tidy(e.Message);
                    }
                }
            }
            var m = Kinds.ToDictionary(k => k, k => Workload.Median(samples[k]));
            table.AppendLine($"| {c.Name} | {F(m["in-process"])} | {F(m[".NET JSON"])} | {F(m[".NET safetensors"])} | {F(m["floor"])} | "
                             + $"{F(m["Python JSON"])} | {F(m["Python safetensors"])} | {F(Workload.Median(decode))} | "
                             + $"{R(m[".NET JSON"] / m["in-process"])} | {R(m[".NET safetensors"] / m["in-process"])} | "
                             + $"{R((m["in-process"] + m["floor"]) / m["in-process"])} | {R(m[".NET safetensors"] / (m["in-process"] + m["floor"]))} | "
                             + $"{R(m["Python safetensors"] / m["in-process"])} | {R(m["Python JSON"] / m["in-process"])} |");
            Console.WriteLine(table.ToString().Split('\n')[^2]);
        }
        var decode4 = worker?.Ask(new JsonObject { ["cmd"] = "decode", ["bytes"] = 4 << 20 })["us"]?.GetValue<double>();
        folder.Delete(recursive: true);

        var report = new StringBuilder();
        report.AppendLine($"# Transport ({(smoke ? "smoke run" : "full run")}), {started:yyyy-MM-dd HH:mm} UTC");
        report.AppendLine();
        report.AppendLine($"`dotnet run -c Release --project bench/ReconService.Bench -- --transport{(smoke ? " --smoke" : "")}`; "
                          + $"{Environment.ProcessorCount} cores, {BenchFixture.Threads} intra-op thread(s); load average at start {loadAtStart}, "
                          + $"at end {Report.LoadAverage()}; {(DateTime.UtcNow - started).TotalMinutes:F1} min. Medians in ms of interleaved rounds.");
        report.AppendLine();
        report.Append(table);
        report.AppendLine();
        report.AppendLine($"Python client decode of a 4 MiB safetensors answer (no HTTP): {(decode4 is { } us ? $"{us:F0} µs" : "n/a")} (target ≤ 1 ms).");
        foreach (var (kind, why) in refused) report.AppendLine($"- {kind}: not measured ({why})");
        var results = System.IO.Path.Combine(BenchFixture.RepoRoot, "bench", "results");
        Directory.CreateDirectory(results);
        var output = System.IO.Path.Combine(results, smoke ? "transport-smoke.md" : "transport.md");
        File.WriteAllText(output, report.ToString());
        Console.WriteLine();
        Console.WriteLine(report);
        Console.WriteLine($"Written to {output}");
    }

    /// <summary>(op, tokens, batch, top-k): every op and size, attention at 1024 × 8 left out (a 400 MB answer), then top-32 MLP post.</summary>
    private static IEnumerable<(string Op, int Tokens, int Batch, int? TopK)> Cases(bool smoke)
    {
        int[] tokens = smoke ? [64] : [64, 256, 1024];
        int[] batches = smoke ? [1] : [1, 8];
        foreach (var op in new[] { "MLP post", "attn probs" })
            foreach (var t in tokens)
                foreach (var b in batches)
                    if (!(op == "attn probs" && t * b > 4096)) yield return (op, t, b, null);
        yield return ("MLP post", smoke ? 64 : 1024, 1, 32);
    }

    private static string Tidy(string message) => string.Join(' ', message.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static string F(double ms) => double.IsNaN(ms) ? "–" : ms.ToString(ms < 10 ? "F2" : "F1", CultureInfo.InvariantCulture);

    private static string R(double ratio) => double.IsNaN(ratio) ? "–" : ratio.ToString("F2", CultureInfo.InvariantCulture);
}
