using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using ReconService.Api.Configuration;
using ReconService.Api.Hosting;
using ReconService.Engine;

namespace ReconService.Api.Caching;

/// <summary>
/// What the answers of this process depend on besides the request: the model's and the autoencoders' files (by
/// content, not by path), the autoencoders' names and input types, the device and the service's build. Part of every
/// cache key, so replicas serving the same model from the same image share answers through Redis, and two models (or
/// two builds) never do.
/// </summary>
/// <remarks>
/// Each file counts by its path relative to its folder, its length and a SHA-256 of its bytes: all of them for a file of
/// up to <see cref="WholeFileBytes"/>, else <see cref="Samples"/> evenly spaced blocks of <see cref="SampleBytes"/>
/// (first and last included), so a multi-GB checkpoint costs a few MiB of reading, once, at the first cached request.
/// Two checkpoints that differ only outside every sampled block would share answers; retrained or fine-tuned weights
/// differ throughout.
/// </remarks>
public sealed class ModelIdentity
{
    /// <summary>Files up to this size (16 MiB) are hashed whole.</summary>
    public const long WholeFileBytes = 16L << 20;

    /// <summary>Blocks sampled from a larger file.</summary>
    public const int Samples = 32;

    /// <summary>Size of each sampled block (64 KiB).</summary>
    public const int SampleBytes = 64 << 10;

    private readonly ModelLocator _locator;
    private readonly EngineHost _host;
    private volatile string? _value;

    /// <summary>The identity of what <paramref name="locator"/> resolves, on the device the loaded engine uses (computed on first use, once the engine is ready).</summary>
    public ModelIdentity(ModelLocator locator, EngineHost host)
    {
        _locator = locator;
        _host = host;
    }

    /// <summary>32 hex digits (128 bits of a SHA-256).</summary>
    /// <exception cref="InvalidOperationException">The model cannot be located (the engine would not have loaded either).</exception>
    /// <exception cref="EngineNotReadyException">Read before the engine loaded (the pipeline reads it only after).</exception>
    public string Value => _value ??= Of(_locator.Resolve(), _host.Engine.Device);   // two first readers may both compute it: same value

    /// <summary>The identity of <paramref name="options"/>' files, names and input types on <paramref name="device"/>, and of this build.</summary>
    public static string Of(EngineOptions options, string device)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string text) => hash.AppendData(Encoding.UTF8.GetBytes(text + "\n"));

        Add("build " + typeof(ModelIdentity).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);
        Add("device " + device);
        AddFiles(hash, "model", options.ModelPath);
        foreach (var source in options.Autoencoders.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            Add($"autoencoder {source.Name} {source.InputType}");
            AddFiles(hash, "autoencoder " + source.Name, source.Path);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..32];
    }

    /// <summary>Every file under <paramref name="path"/> (or that file), in ordinal order of relative path.</summary>
    private static void AddFiles(IncrementalHash hash, string label, string path)
    {
        IEnumerable<(string Relative, string Full)> files = File.Exists(path)
            ? [(Path.GetFileName(path), path)]
            : Directory.Exists(path)
                ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Select(f => (Path.GetRelativePath(path, f).Replace('\\', '/'), f))
                : [];
        foreach (var (relative, full) in files.OrderBy(f => f.Relative, StringComparer.Ordinal))
        {
            using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            hash.AppendData(Encoding.UTF8.GetBytes($"{label} {relative} {stream.Length}\n"));
            hash.AppendData(Content(stream));
        }
    }

    /// <summary>SHA-256 of the whole file, or of its sampled blocks.</summary>
    private static byte[] Content(FileStream stream)
    {
        if (stream.Length <= WholeFileBytes) return SHA256.HashData(stream);
        using var sampled = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var block = new byte[SampleBytes];
        var last = stream.Length - SampleBytes;
        for (var i = 0; i < Samples; i++)
        {
            stream.Position = last * i / (Samples - 1);
            stream.ReadExactly(block);
            sampled.AppendData(block);
        }
        return sampled.GetHashAndReset();
    }
}
