using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using ReconService.Api.Tests.Infrastructure;
using ReconService.Api.Viewer;

namespace ReconService.Api.Tests.Http;

/// <summary>The neuron viewer's static files at <c>/</c>, without taking over API 404s or Swagger.</summary>
public sealed class ViewerHostingTests : IDisposable
{
    private readonly string _built = Directory.CreateTempSubdirectory("viewer-built-").FullName;
    private readonly string _empty = Directory.CreateTempSubdirectory("viewer-empty-").FullName;

    public ViewerHostingTests()
    {
        File.WriteAllText(Path.Combine(_built, "index.html"), "<!doctype html><title>Neuron viewer test page</title>");
        Directory.CreateDirectory(Path.Combine(_built, "js"));
        File.WriteAllText(Path.Combine(_built, "js", "main.js"), "export const answer = 42;");
    }

    public void Dispose()
    {
        Directory.Delete(_built, recursive: true);
        Directory.Delete(_empty, recursive: true);
    }

    private static HttpClient Client(BlockingEngineFactory factory) =>
        factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    [Fact]
    public async Task ServesTheBuiltPageAtTheRootAndItsScripts()
    {
        using var factory = new BlockingEngineFactory(new() { [ViewerEndpoints.PathKey] = _built });
        using var client = Client(factory);

        using var root = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, root.StatusCode);
        Assert.Equal("text/html", root.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Neuron viewer test page", await root.Content.ReadAsStringAsync());

        using var script = await client.GetAsync("/js/main.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);

        using var viewer = await client.GetAsync("/viewer");
        Assert.Equal(HttpStatusCode.Redirect, viewer.StatusCode);
        Assert.Equal("/", viewer.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task UnknownPathsStayProblemDetailsAndSwaggerStaysSwagger()
    {
        using var factory = new BlockingEngineFactory(new() { [ViewerEndpoints.PathKey] = _built });
        using var client = Client(factory);

        foreach (var path in new[] { "/v1/no-such-endpoint", "/no-such-page.html", "/js/missing.js" })
        {
            using var missing = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
        }

        using var swagger = await client.GetAsync("/swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, swagger.StatusCode);
        Assert.Contains("swagger", await swagger.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task WithoutABuiltPageTheServiceRunsAndTheRootIsA404()
    {
        using var factory = new BlockingEngineFactory(new() { [ViewerEndpoints.PathKey] = _empty });
        using var client = Client(factory);

        using var root = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.NotFound, root.StatusCode);
        using var live = await client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public void FindsTheWebRootThenTheFolderBesideTheBinaries()
    {
        Assert.Equal(Path.GetFullPath(_built), ViewerEndpoints.FindViewerRoot(null, _built, _empty));
        var binaries = Directory.CreateTempSubdirectory("viewer-bin-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(binaries, "wwwroot"));
            File.WriteAllText(Path.Combine(binaries, "wwwroot", "index.html"), "<!doctype html>");
            Assert.Equal(Path.Combine(binaries, "wwwroot"), ViewerEndpoints.FindViewerRoot(null, _empty, binaries));
            Assert.Equal(Path.Combine(binaries, "wwwroot"), ViewerEndpoints.FindViewerRoot("", null, binaries));
            Assert.Null(ViewerEndpoints.FindViewerRoot(_empty, _built, binaries));
            Assert.Null(ViewerEndpoints.FindViewerRoot(null, _empty, _empty));
        }
        finally
        {
            Directory.Delete(binaries, recursive: true);
        }
    }
}
