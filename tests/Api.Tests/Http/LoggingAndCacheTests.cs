using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ReconService.Api.Caching;
using ReconService.Api.Tests.Infrastructure;
using Serilog.Core;
using Serilog.Events;

namespace ReconService.Api.Tests.Http;

/// <summary>The request-completed log event's structured fields, and the cache switch.</summary>
public sealed class LoggingAndCacheTests
{
    private sealed class CapturingSink : ILogEventSink
    {
        public ConcurrentQueue<LogEvent> Events { get; } = new();
        public void Emit(LogEvent logEvent) => Events.Enqueue(logEvent);
    }

    private sealed class CapturingFactory(Dictionary<string, string?> settings) : ServiceFactory(settings)
    {
        public CapturingSink Sink { get; } = new();
        public BlockingEngine Engine { get; } = new();

        protected override void ConfigureTestServices(IServiceCollection services)
        {
            Engine.Release.Set();
            services.AddSingleton<ILogEventSink>(Sink);
            services.AddSingleton<ReconService.Api.Hosting.IEngineLoader>(new Loader(Engine));
        }

        private sealed class Loader(ReconService.Engine.IReconstitutionEngine engine) : ReconService.Api.Hosting.IEngineLoader
        {
            public ReconService.Engine.IReconstitutionEngine Load(ReconService.Engine.EngineOptions options) => engine;
        }
    }

    private static JsonObject Body() => new()
    {
        ["residual"] = Wire.Tensor([3, 8], new float[24]),
        ["layerIndex"] = 0,
        ["nodeType"] = "mlp_neuron",
        ["preOrPostAct"] = "post",
    };

    [Fact]
    public async Task EachRequestIsLoggedOnceWithEndpointTokensLayerAndDuration()
    {
        using var factory = new CapturingFactory([]);
        using var client = await factory.ReadyClientAsync();
        (await (await client.PostJsonAsync("/v1/activations", Body())).OkJsonAsync()).GetProperty("activations");

        var completed = factory.Sink.Events.Where(e => e.Properties.TryGetValue("Endpoint", out var v) && v.ToString() == "\"activations\"").ToList();
        var logged = Assert.Single(completed);
        Assert.Equal("3", logged.Properties["Tokens"].ToString());
        Assert.Equal("0", logged.Properties["Layer"].ToString());
        Assert.Equal("200", logged.Properties["StatusCode"].ToString());
        Assert.True(double.Parse(logged.Properties["Elapsed"].ToString(), System.Globalization.CultureInfo.InvariantCulture) >= 0);
        Assert.DoesNotContain("AAAA", logged.MessageTemplate.Text);
    }

    [Fact]
    public async Task WithTheCacheOffNothingIsStored()
    {
        using var factory = new CapturingFactory(new() { ["Cache:Enabled"] = "false" });
        using var client = await factory.ReadyClientAsync();
        for (var i = 0; i < 2; i++)
        {
            using var response = await client.PostJsonAsync("/v1/activations", Body());
            await response.OkJsonAsync();
            Assert.False(response.Headers.Contains("X-Cache"));
        }
        Assert.False(factory.Services.GetRequiredService<AnswerCache>().Enabled);
    }
}
