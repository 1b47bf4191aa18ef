namespace ReconService.Api.Tests.Infrastructure;

/// <summary>Where the repository, its default model and the shared golden vectors are.</summary>
public static class RepoPaths
{
    /// <summary>The folder holding <c>ReconService.sln</c>.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Golden folder: <c>RECON_GOLDEN_DIR</c> when set, else <c>../shared/golden</c> beside the repository.</summary>
    public static string GoldenDir =>
        Environment.GetEnvironmentVariable("RECON_GOLDEN_DIR") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.GetFullPath(Path.Combine(Root, "..", "shared", "golden"));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ReconService.sln"))) return dir.FullName;
        throw new InvalidOperationException($"ReconService.sln not found above {AppContext.BaseDirectory}");
    }
}
