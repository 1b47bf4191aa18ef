using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReconService.Api.Hosting;
using ReconService.Api.Limits;
using ReconService.Api.Tests.Infrastructure;
using ReconService.Engine;

namespace ReconService.Api.Tests.Hosting;

/// <summary>
/// The drain on SIGTERM, through the host's real stop sequence (<c>IHost.StopAsync</c>, which SIGTERM triggers):
/// readiness 503 at once, new engine requests 503 with <c>Retry-After</c>, running and queued requests answered, the
/// server kept until then or until <c>Drain:TimeoutSeconds</c>.
/// </summary>
public sealed class DrainTests
{
    /// <summary>The service over a <see cref="BlockingEngine"/> that is released only by the test; its host exposed.</summary>
    private sealed class StoppableFactory(Dictionary<string, string?> settings) : ServiceFactory(settings)
    {
        public BlockingEngine Engine { get; } = new();
        public IHost Host { get; private set; } = null!;

        protected override void ConfigureTestServices(IServiceCollection services) => services.AddSingleton<IEngineLoader>(new Loader(Engine));

        protected override IHost CreateHost(IHostBuilder builder) => Host = base.CreateHost(builder);

        /// <summary>A client the factory does not track (so stopping the host does not dispose it under running requests).</summary>
        public HttpClient UntrackedClient() => new(Server.CreateHandler()) { BaseAddress = Server.BaseAddress };

        protected override void Dispose(bool disposing)
        {
            Engine.Release.Set();
            base.Dispose(disposing);
        }

        private sealed class Loader(IReconstitutionEngine engine) : IEngineLoader
        {
            public IReconstitutionEngine Load(EngineOptions options) => engine;
        }
    }

    private static JsonObject Body(int tokens) => new()
    {
        ["residual"] = Wire.Tensor([tokens, 8], new float[tokens * 8]),
        ["layerIndex"] = 0,
        ["nodeType"] = "mlp_neuron",
        ["preOrPostAct"] = "post",
    };

    private static async Task Until(Func<bool> condition, string what)
    {
        for (var i = 0; i < 600 && !condition(); i++) await Task.Delay(20);
        Assert.True(condition(), what);
    }

    [Fact]
    public async Task OnStopReadinessAndNewRequestsAre503WhileRunningAndQueuedRequestsFinish()
    {
        using var factory = new StoppableFactory(new()
        {
            ["Cache:Enabled"] = "false", ["Queue:Concurrency"] = "1", ["Queue:RetryAfterSeconds"] = "2", ["Drain:TimeoutSeconds"] = "120",
        });
        (await factory.ReadyClientAsync()).Dispose();
        using var client = factory.UntrackedClient();
        var drain = factory.Services.GetRequiredService<DrainState>();
        var queue = factory.Services.GetRequiredService<EngineQueue>();

        var running = client.PostJsonAsync("/v1/activations", Body(3));
        Assert.True(factory.Engine.Entered.Wait(TimeSpan.FromSeconds(30)));
        var queued = client.PostJsonAsync("/v1/activations", Body(4));
        await Until(() => queue.Statistics().Queued == 1, "the second request waits in the queue");

        var stopping = Task.Run(() => factory.Host.StopAsync());
        await Until(() => drain.IsDraining, "the drain began");

        using (var ready = await client.GetAsync("/health/ready")) Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        using (var live = await client.GetAsync("/health/live")) Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using (var refused = await client.PostJsonAsync("/v1/activations", Body(5)))
        {
            await refused.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "service");
            Assert.Equal(TimeSpan.FromSeconds(2), refused.Headers.RetryAfter?.Delta);
        }
        Assert.Equal(2, drain.InFlight);
        Assert.False(stopping.IsCompleted, "the host stopped with requests in flight");

        factory.Engine.Release.Set();
        using (var first = await running) Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using (var second = await queued) Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        await stopping.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, drain.InFlight);
    }

    [Fact]
    public async Task TheDrainEndsAfterItsTimeoutEvenWithARequestStillRunning()
    {
        using var factory = new StoppableFactory(new() { ["Cache:Enabled"] = "false", ["Drain:TimeoutSeconds"] = "1" });
        (await factory.ReadyClientAsync()).Dispose();
        using var client = factory.UntrackedClient();
        var drain = factory.Services.GetRequiredService<DrainState>();

        var running = client.PostJsonAsync("/v1/activations", Body(3));
        Assert.True(factory.Engine.Entered.Wait(TimeSpan.FromSeconds(30)));
        await factory.Host.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));   // returns once the 1 s drain gave up
        Assert.True(drain.IsDraining);
        Assert.Equal(1, drain.InFlight);
        factory.Engine.Release.Set();
        try { (await running).Dispose(); } catch (Exception e) when (e is HttpRequestException or OperationCanceledException) { }
    }

    [Fact]
    public async Task WithNothingInFlightTheStopIsImmediateAndTheShutdownTimeoutFollowsTheDrain()
    {
        using var factory = new StoppableFactory(new() { ["Drain:TimeoutSeconds"] = "600" });
        (await factory.ReadyClientAsync()).Dispose();
        Assert.Equal(TimeSpan.FromSeconds(605), factory.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<HostOptions>>().Value.ShutdownTimeout);
        var drain = factory.Services.GetRequiredService<DrainState>();   // before the stop, which ends with the services disposed
        await factory.Host.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));   // far less than the 600 s allowed: nothing to wait for
        Assert.True(drain.IsDraining);
    }

    [Fact]
    public void ARequestThatEntersAsTheDrainBeginsIsEitherRefusedOrWaitedFor()
    {
        var drain = new DrainState(Microsoft.Extensions.Options.Options.Create(new QueueOptions()));
        var ticket = drain.Enter();
        drain.Begin();
        Assert.False(drain.Idle.IsCompleted);
        Assert.Throws<ReconService.Api.Errors.ProblemException>(() => drain.Enter());
        Assert.Equal(1, drain.InFlight);
        ticket.Dispose();
        ticket.Dispose();
        Assert.True(drain.Idle.IsCompletedSuccessfully);
        Assert.Equal(0, drain.InFlight);
    }
}
