using Microsoft.Extensions.DependencyInjection;
using ReconService.Api.Hosting;
using ReconService.Engine;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>A loader that never finishes while the test runs: the service stays not ready.</summary>
public sealed class StalledEngineLoader : IEngineLoader, IDisposable
{
    private readonly ManualResetEventSlim _release = new();

    public IReconstitutionEngine Load(EngineOptions options)
    {
        _release.Wait(TimeSpan.FromMinutes(5));
        throw new OperationCanceledException("test finished before the engine loaded");
    }

    public void Dispose() => _release.Set();
}

/// <summary>The service with a stalled loader and the given settings.</summary>
public sealed class NotReadyFactory(Dictionary<string, string?> settings) : ServiceFactory(settings)
{
    private readonly StalledEngineLoader _loader = new();

    protected override void ConfigureTestServices(IServiceCollection services) =>
        services.AddSingleton<IEngineLoader>(_loader);

    protected override void Dispose(bool disposing)
    {
        _loader.Dispose();
        base.Dispose(disposing);
    }
}
