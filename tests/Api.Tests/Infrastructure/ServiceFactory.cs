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
public sealed class GoldenFactory() : ServiceFactory(GoldenSettings())
{
    /// <summary>Settings pointing at the golden folder: <c>model/</c> and <c>sae/&lt;name&gt;/autoencoders</c> (or <c>saelens</c>).</summary>
    public static Dictionary<string, string?> GoldenSettings()
    {
        var golden = RepoPaths.GoldenDir;
        var settings = new Dictionary<string, string?> { ["Model:Path"] = Path.Combine(golden, "model") };
        var sae = Path.Combine(golden, "sae");
        if (Directory.Exists(sae))
        {
            foreach (var family in Directory.GetDirectories(sae).Select(Path.GetFileName))
            {
                var openAi = Path.Combine(sae, family!, "autoencoders");
                settings[$"Autoencoders:{family}:Path"] = Directory.Exists(openAi) ? openAi : Path.Combine(sae, family!, "saelens");
                settings[$"Autoencoders:{family}:InputType"] = family;
            }
        }
        return settings;
    }
}
