using System.IO.Compression;
using System.Text;

namespace ReconService.Engine.Tests.Loading;

internal static class LoadErrorAssert
{
    /// <summary>The error is about <paramref name="file"/> and, when given, names <paramref name="tensor"/> in quotes.</summary>
    public static void Names(WeightLoadException error, string file, string? tensor)
    {
        Assert.Equal(file, error.Path);
        Assert.StartsWith(file + ": ", error.Message);
        if (tensor is not null) Assert.Contains($"'{tensor}'", error.Message);
    }

    /// <summary>Cuts the last <paramref name="bytes"/> bytes off <paramref name="path"/>.</summary>
    public static void Truncate(string path, int bytes)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.SetLength(stream.Length - bytes);
    }

    /// <summary>Rewrites the <c>data.pkl</c> entry of a torch.save archive, replacing text in its pickle.</summary>
    public static void EditPickle(string path, string from, string to)
    {
        using var archive = ZipFile.Open(path, ZipArchiveMode.Update);
        var entry = archive.Entries.Single(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal));
        byte[] pickle;
        using (var input = entry.Open()) using (var buffer = new MemoryStream()) { input.CopyTo(buffer); pickle = buffer.ToArray(); }
        var edited = Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(pickle).Replace(from, to, StringComparison.Ordinal));
        Assert.NotEqual(pickle, edited);
        var name = entry.FullName;
        entry.Delete();
        using var output = archive.CreateEntry(name, CompressionLevel.NoCompression).Open();
        output.Write(edited);
    }
}
