using Microsoft.Extensions.FileProviders;

namespace ReconService.Api.Viewer;

/// <summary>
/// Serves the neuron viewer (built from <c>viewer/</c> into <c>wwwroot/</c>) as static files at <c>/</c>.
/// Only files that exist are served: there is no SPA fallback, so unknown paths under <c>/v1</c> keep
/// their problem-details 404s and <c>/swagger</c> stays with Swagger UI.
/// </summary>
public static class ViewerEndpoints
{
    /// <summary>Adds <c>/</c> → <c>index.html</c> and the static files of the web root, when the viewer has been built.</summary>
    public static WebApplication UseViewer(this WebApplication app)
    {
        var root = app.Environment.WebRootPath;
        if (string.IsNullOrEmpty(root) || !File.Exists(Path.Combine(root, "index.html")))
        {
            app.Logger.LogInformation("Neuron viewer not built (no wwwroot/index.html); run `npm ci && npm run build` in viewer/ to serve it at /");
            return app;
        }
        var files = new PhysicalFileProvider(root);
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = "" });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            // The page is small and rebuilt often; make browsers revalidate instead of caching stale scripts.
            OnPrepareResponse = ctx => ctx.Context.Response.Headers.CacheControl = "no-cache",
        });
        app.MapGet("/viewer", () => TypedResults.Redirect("/")).ExcludeFromDescription();
        return app;
    }
}
