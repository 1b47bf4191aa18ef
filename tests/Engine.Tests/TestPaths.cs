namespace ReconService.Engine.Tests;

/// <summary>Locates shared test data: the golden folder and the embedded model.</summary>
internal static class TestPaths
{
    /// <summary>The repository root: the nearest folder above the test binaries that holds ReconService.sln.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary><c>RECON_GOLDEN_DIR</c> when set, else <c>../shared/golden</c> relative to the repository root.</summary>
    public static string GoldenDir { get; } =
        Environment.GetEnvironmentVariable("RECON_GOLDEN_DIR") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "golden"));

    /// <summary>Whether the golden folder is there.</summary>
    public static bool GoldenAvailable => Directory.Exists(GoldenDir);

    /// <summary>A path inside the golden folder; skips the calling test (a skippable one), naming the folder, when it is absent.</summary>
    public static string Golden(params string[] parts)
    {
        Skip.IfNot(GoldenAvailable, $"the golden set is not at {GoldenDir} (../shared/golden beside the repository, or RECON_GOLDEN_DIR)");
        return Path.Combine([GoldenDir, .. parts]);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ReconService.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No folder above {AppContext.BaseDirectory} holds ReconService.sln");
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "recon-tests-" + Guid.NewGuid().ToString("N"));

    /// <summary>Copies <paramref name="source"/> (a folder, recursively) into this folder under <paramref name="name"/>.</summary>
    public string CopyFolder(string source, string name)
    {
        var target = System.IO.Path.Combine(Path, name);
        foreach (var dir in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(System.IO.Path.Combine(target, System.IO.Path.GetRelativePath(source, dir)));
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var copy = System.IO.Path.Combine(target, System.IO.Path.GetRelativePath(source, file));
            File.Copy(file, copy);
            File.SetAttributes(copy, FileAttributes.Normal);
        }
        return target;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
