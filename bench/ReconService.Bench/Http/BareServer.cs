using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ReconService.Bench.Http;

/// <summary>
/// The transport floor: a bare Kestrel app (no JSON, no base64, no engine) whose one endpoint reads the whole request
/// body and answers with <c>?bytes=N</c> bytes of base64 text, written the way the service writes its answers (one
/// buffer, chunked). Posting the service's request body to it and reading an answer as long as the service's shows what
/// ASP.NET Core and <see cref="HttpClient"/> on loopback cost on this machine for those bytes alone.
/// </summary>
internal static class BareServer
{
    private static readonly Lazy<(WebApplication App, HttpClient Client)> Started = new(Start);
    private static byte[] _answer = [];

    public static HttpClient Client => Started.Value.Client;

    public static void StopIfStarted()
    {
        if (!Started.IsValueCreated) return;
        Started.Value.Client.Dispose();
        Started.Value.App.StopAsync().GetAwaiter().GetResult();
    }

    private static (WebApplication, HttpClient) Start()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        var app = builder.Build();
        app.MapPost("/bytes", async (HttpContext http, int bytes) =>
        {
            var body = http.Request.BodyReader;
            while (true)
            {
                var read = await body.ReadAsync();
                body.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted) break;
            }
            var answer = Answer(bytes);
            var memory = http.Response.BodyWriter.GetMemory(bytes);
            answer.AsSpan(0, bytes).CopyTo(memory.Span);
            http.Response.BodyWriter.Advance(bytes);
            await http.Response.BodyWriter.FlushAsync();
        });
        app.StartAsync().GetAwaiter().GetResult();
        var client = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false })
        {
            BaseAddress = new Uri(app.Urls.First()),
            Timeout = TimeSpan.FromMinutes(5),
        };
        return (app, client);
    }

    private static byte[] Answer(int bytes)
    {
        var answer = Volatile.Read(ref _answer);
        if (answer.Length >= bytes) return answer;
        answer = new byte[bytes];
        for (var i = 0; i < answer.Length; i++) answer[i] = (byte)"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64];
        Volatile.Write(ref _answer, answer);
        return answer;
    }
}
