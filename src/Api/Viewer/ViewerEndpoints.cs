using Microsoft.Extensions.FileProviders;

namespace ReconService.Api.Viewer;

/// <summary>
/// Serves the neuron viewer (built from <c>viewer/</c> by <c>npm run build</c> into <c>src/Api/wwwroot/</c>) as static
/// files at <c>/</c>. Only files that exist are served: there is no SPA fallback, so unknown paths (under <c>/v1</c> or
/// anywhere) keep their problem-details 404s and <c>/swagger</c> stays with Swagger UI.
/// </summary>
public static class ViewerEndpoints
{
    /// <summary>Configuration key of an explicit folder holding the built viewer (<c>index.html</c>, <c>js/</c>).</summary>
    public const string PathKey = "Viewer:Path";

    /// <summary>
    /// Adds <c>/</c> → <c>index.html</c>, the viewer's static files and <c>/viewer</c> → <c>/</c>, when a built viewer is found
    /// (see <see cref="FindViewerRoot"/>); otherwise logs how to build it and adds nothing.
    /// </summary>
    public static WebApplication UseViewer(this WebApplication app)
    {
        var root = FindViewerRoot(app.Configuration[PathKey], app.Environment.WebRootPath, AppContext.BaseDirectory);
        if (root is null)
        {
            app.Logger.LogInformation("Neuron viewer not built (no wwwroot/index.html); run `npm ci && npm run build` in viewer/ to serve it at /");
            return app;
        }
        app.Logger.LogInformation("Serving the neuron viewer at / from {ViewerRoot}", root);
        var files = new PhysicalFileProvider(root);
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            // The page is small and rebuilt often: browsers revalidate instead of running stale scripts.
            OnPrepareResponse = ctx => ctx.Context.Response.Headers.CacheControl = "no-cache",
        });
        app.MapGet("/viewer", () => TypedResults.Redirect("/")).ExcludeFromDescription();
        return app;
    }

    /// <summary>
    /// The folder to serve: <c>Viewer:Path</c> when configured (served only if it holds <c>index.html</c>); else the web
    /// root (<c>wwwroot</c> under the content root: <c>dotnet run</c> from the source tree); else <c>wwwroot</c> beside the
    /// binaries (a published service started from another directory). Null when none holds <c>index.html</c>.
    /// </summary>
    public static string? FindViewerRoot(string? configured, string? webRoot, string baseDirectory)
    {
        if (!string.IsNullOrWhiteSpace(configured)) return HasIndex(configured) ? Path.GetFullPath(configured) : null;
        foreach (var candidate in new[] { webRoot, Path.Combine(baseDirectory, "wwwroot") })
            if (!string.IsNullOrEmpty(candidate) && HasIndex(candidate)) return Path.GetFullPath(candidate);
        return null;
    }

    private static bool HasIndex(string folder) => File.Exists(Path.Combine(folder, "index.html"));
}
