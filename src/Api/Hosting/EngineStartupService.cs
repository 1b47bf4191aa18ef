using System.Diagnostics;
using Microsoft.Extensions.Options;
using ReconService.Api.Configuration;
using ReconService.Api.Logging;
using ReconService.Engine.Hosting;

namespace ReconService.Api.Hosting;

/// <summary>Loads the engine in the background at start-up, so liveness answers while weights load.</summary>
public sealed class EngineStartupService(EngineHost host, IEngineLoader loader, ModelLocator locator,
    IHostApplicationLifetime lifetime, IOptions<EngineHostOptions> engineOptions, ILogger<EngineStartupService> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() =>
    {
        var stopwatch = Stopwatch.StartNew();
        // Server settings measured in bench/ (see bench/README.md): keeping freed native memory spares large tensors a
        // page fault per page (Engine:RetainFreedMemory). Loading runs with one intra-op thread; each request then sets
        // its own count (EngineQueue).
        if (engineOptions.Value.RetainFreedMemory) NativeAllocator.RetainFreedMemory();
        TorchSharp.torch.set_num_threads(1);
        try
        {
            var options = locator.Resolve();
            logger.EngineLoading(options.ModelPath, options.Autoencoders.Count, options.Device);
            var engine = loader.Load(options);
            host.SetLoaded(engine);
            logger.EngineLoaded(engine.Config.NLayers, engine.Config.DModel, engine.Device, stopwatch.ElapsedMilliseconds);
        }
        catch (Exception e)
        {
            host.SetFailed(e);
            if (e is OperationCanceledException || stoppingToken.IsCancellationRequested) return;
            logger.EngineLoadFailed(e);
            Environment.ExitCode = 1;
            // Serving nothing but 503s forever helps no one: stop so the supervisor sees the failure.
            lifetime.StopApplication();
        }
    }, stoppingToken);
}
