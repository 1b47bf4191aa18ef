using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using ReconService.Api.Hosting;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>The service in memory, configured through settings (the same keys as appsettings).</summary>
public class ServiceFactory(IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<Program>
{

    /// <summary>Extra service registrations (e.g. a test engine loader).</summary>
    protected virtual void ConfigureTestServices(IServiceCollection services) { }

    /// <inheritdoc />
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in settings) builder.UseSetting(key, value);
        builder.ConfigureServices(ConfigureTestServices);
    }

    /// <summary>A client once <c>/health/ready</c> answers 200; fails with the load error if loading failed.</summary>
    public async Task<HttpClient> ReadyClientAsync(TimeSpan? timeout = null)
    {
        var client = CreateClient();
        var host = Services.GetRequiredService<EngineHost>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(3));
        while (DateTime.UtcNow < deadline)
        {
            if (host.LoadError is { } error) throw new InvalidOperationException("the engine failed to load", error);
            using var response = await client.GetAsync("/health/ready");
            if (response.StatusCode == HttpStatusCode.OK) return client;
            await Task.Delay(100);
        }
        throw new TimeoutException("the service did not become ready");
    }
}

/// <summary>The service on its embedded default model (no <c>Model:Path</c>).</summary>
public sealed class DefaultModelFactory() : ServiceFactory(new Dictionary<string, string?>());

/// <summary>The service on the golden model, with the golden autoencoder families under their folder names.</summary>
/// <param name="layout">Autoencoder layout to load: <c>autoencoders</c> (OpenAI/TDB) or <c>saelens</c>.</param>
public sealed class GoldenFactory(string layout = "autoencoders") : ServiceFactory(GoldenSettings(layout))
{
    /// <summary>Settings pointing at the golden folder: <c>model/</c> and <c>sae/&lt;name&gt;/&lt;layout&gt;</c> (the other layout when that one is missing).</summary>
    public static Dictionary<string, string?> GoldenSettings(string layout = "autoencoders")
    {
        var golden = RepoPaths.GoldenDir;
        var settings = new Dictionary<string, string?> { ["Model:Path"] = Path.Combine(golden, "model") };
        var sae = Path.Combine(golden, "sae");
        if (Directory.Exists(sae))
        {
            foreach (var family in Directory.GetDirectories(sae).Select(Path.GetFileName))
            {
                var preferred = Path.Combine(sae, family!, layout);
                var other = Path.Combine(sae, family!, layout == "saelens" ? "autoencoders" : "saelens");
                settings[$"Autoencoders:{family}:Path"] = Directory.Exists(preferred) ? preferred : other;
                settings[$"Autoencoders:{family}:InputType"] = InputType(Path.Combine(sae, family!)) ?? family;
            }
        }
        return settings;
    }

    /// <summary>The input type <c>info.json</c> names (<c>dst</c>), if any.</summary>
    private static string? InputType(string familyDir)
    {
        var info = Path.Combine(familyDir, "info.json");
        if (!File.Exists(info)) return null;
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(info));
        return doc.RootElement.TryGetProperty("dst", out var dst) ? dst.GetString() : null;
    }
}
