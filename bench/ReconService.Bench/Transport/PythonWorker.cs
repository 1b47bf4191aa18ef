using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ReconService.Bench.Transport;

/// <summary>
/// The Python client (clients/python) driven line by line through <c>bench/python/client_worker.py</c>, so that its calls
/// take turns with the in-process and .NET calls of the same round.
/// </summary>
internal sealed class PythonWorker : IDisposable
{
    private readonly Process _process;

    private PythonWorker(Process process) => _process = process;

    /// <summary>Starts the worker against <paramref name="url"/>, or returns null (with the reason) when Python or numpy is missing.</summary>
    public static PythonWorker? TryStart(string python, string url, out string? why)
    {
        var script = Path.Combine(BenchFixture.RepoRoot, "bench", "python", "client_worker.py");
        try
        {
            var process = Process.Start(new ProcessStartInfo(python, [script, "--url", url])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            })!;
            var worker = new PythonWorker(process);
            worker.Ask(new JsonObject { ["cmd"] = "decode", ["bytes"] = 16 });
            why = null;
            return worker;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            why = $"{python} {script}: {e.Message}";
            return null;
        }
    }

    /// <summary>Sends one command, returns its answer.</summary>
    public JsonObject Ask(JsonObject command)
    {
        _process.StandardInput.WriteLine(command.ToJsonString());
        _process.StandardInput.Flush();
        var line = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the Python worker exited");
        return JsonNode.Parse(line)!.AsObject();
    }

    /// <summary>One call: (total ms, decode ms), or throws <see cref="TransportRefused"/> with the worker's error.</summary>
    public (double Ms, double DecodeMs) Call(string transport, string path, string fieldsJson, string residual)
    {
        var answer = Ask(new JsonObject
        {
            ["cmd"] = "call", ["transport"] = transport, ["path"] = path, ["fields"] = JsonNode.Parse(fieldsJson), ["residual"] = residual,
        });
        if (answer["error"] is { } error) throw new TransportRefused(0, error.GetValue<string>());
        return (answer["ms"]!.GetValue<double>(), answer["decode_ms"]!.GetValue<double>());
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.WriteLine(new JsonObject { ["cmd"] = "quit" }.ToJsonString());
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000)) _process.Kill();
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
