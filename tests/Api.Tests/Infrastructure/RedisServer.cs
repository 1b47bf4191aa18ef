using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>
/// A throwaway <c>redis-server</c> on a free loopback port (no persistence), stopped on dispose. Tests that need one call
/// <see cref="StartOrSkip"/>: without <c>redis-server</c> on the PATH they are skipped with a message (CI installs it).
/// </summary>
public sealed class RedisServer : IDisposable
{
    private readonly Process _process;

    private RedisServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    /// <summary>The port it listens on (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>The connection string the service's <c>Cache:Redis</c> takes.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Where <c>redis-server</c> is, if anywhere on the PATH.</summary>
    public static string? Executable => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .Select(dir => Path.Combine(dir, "redis-server")).FirstOrDefault(File.Exists);

    /// <summary>A running server, or the test is skipped when <c>redis-server</c> is not installed.</summary>
    public static RedisServer StartOrSkip()
    {
        var executable = Executable;
        Skip.If(executable is null, "redis-server is not installed (apt-get install redis-server; .ci/run installs it)");
        var port = FreePort();
        var process = Process.Start(new ProcessStartInfo(executable!)
        {
            ArgumentList = { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RedisServer(process, port);
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var connection = server.Connect();
                connection.GetDatabase().Ping();
                return server;
            }
            catch (RedisConnectionException)
            {
                if (process.HasExited) break;
                Thread.Sleep(50);
            }
        }
        server.Dispose();
        throw new InvalidOperationException($"redis-server did not answer on port {port}");
    }

    /// <summary>A client connection, for looking at what the service stored.</summary>
    public ConnectionMultiplexer Connect() => ConnectionMultiplexer.Connect($"{ConnectionString},connectTimeout=1000");

    /// <summary>Keys stored under <paramref name="prefix"/>.</summary>
    public List<string> Keys(string prefix)
    {
        using var connection = Connect();
        return connection.GetServer(ConnectionString).Keys(pattern: prefix + "*").Select(k => k.ToString()).ToList();
    }

    /// <summary>Stops the server (Redis down).</summary>
    public void Stop()
    {
        if (_process.HasExited) return;
        _process.Kill();
        _process.WaitForExit();
    }

    /// <summary>A loopback port nothing listens on (just freed).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Stop();
        _process.Dispose();
    }
}
