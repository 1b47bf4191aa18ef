using ReconService.Api.Caching;
using ReconService.Engine;
using ReconService.Models;

namespace ReconService.Api.Tests.Caching;

/// <summary>The model identity in every cache key: by the files' content, wherever they are; any difference separates.</summary>
public sealed class ModelIdentityTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("recon-identity-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Folder(string name, params (string File, byte[] Bytes)[] files)
    {
        var folder = Path.Combine(_root, name);
        foreach (var (file, bytes) in files)
        {
            var path = Path.Combine(folder, file);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, bytes);
        }
        return folder;
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static string Of(string model, string device = "cpu", params AutoencoderSource[] autoencoders) =>
        ModelIdentity.Of(new EngineOptions(model, autoencoders), device);

    [Fact]
    public void TheSameFilesInAnotherFolderAreTheSameModel()
    {
        var files = new[] { ("config.json", Bytes(300, 1)), ("model.safetensors", Bytes(5000, 2)), ("sub/extra.bin", Bytes(10, 3)) };
        var a = Of(Folder("a", files));
        Assert.Equal(a, Of(Folder("b", files)));
        Assert.Matches("^[0-9a-f]{32}$", a);
    }

    [Fact]
    public void OneChangedByteAnotherFileNameAnotherDeviceOrAutoencoderIsAnotherModel()
    {
        var weights = Bytes(5000, 2);
        var a = Of(Folder("a", ("config.json", Bytes(300, 1)), ("model.safetensors", weights)));
        var changed = (byte[])weights.Clone();
        changed[4321] ^= 1;
        Assert.NotEqual(a, Of(Folder("b", ("config.json", Bytes(300, 1)), ("model.safetensors", changed))));
        Assert.NotEqual(a, Of(Folder("c", ("config.json", Bytes(300, 1)), ("weights.safetensors", weights))));
        var same = Folder("d", ("config.json", Bytes(300, 1)), ("model.safetensors", weights));
        Assert.Equal(a, Of(same));
        Assert.NotEqual(a, Of(same, "cuda"));
        var sae = Folder("sae", ("0.pt", Bytes(100, 5)));
        var withSae = Of(same, "cpu", new AutoencoderSource("mlp", sae));
        Assert.NotEqual(a, withSae);
        Assert.NotEqual(withSae, Of(same, "cpu", new AutoencoderSource("other", sae)));
        Assert.NotEqual(withSae, Of(same, "cpu", new AutoencoderSource("mlp", sae, AutoencoderInputType.ResidDeltaMlp)));
    }

    [Fact]
    public void ALargeFileIsSampledAndAChangeInASampledBlockSeparates()
    {
        var length = (int)ModelIdentity.WholeFileBytes + 3 * ModelIdentity.SampleBytes + 17;
        var weights = Bytes(length, 9);
        var a = Of(Folder("a", ("model.safetensors", weights)));
        weights[^1] ^= 1;                                        // the last block is always sampled
        var b = Of(Folder("b", ("model.safetensors", weights)));
        Assert.NotEqual(a, b);
        weights[0] ^= 1;                                         // so is the first
        Assert.NotEqual(b, Of(Folder("c", ("model.safetensors", weights))));
    }
}
