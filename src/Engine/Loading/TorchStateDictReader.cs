using System.Collections;
using TorchSharp.PyBridge;

namespace ReconService.Engine.Loading;

/// <summary>
/// Reads a <c>torch.save</c>d dictionary (a state dict, possibly holding strings, numbers and nested dictionaries)
/// with TorchSharp.PyBridge, turning every failure into a <see cref="WeightLoadException"/> naming the file.
/// </summary>
internal static class TorchStateDictReader
{
    /// <summary>Reads <paramref name="path"/>; tensors come back in their stored dtype, on the CPU.</summary>
    /// <exception cref="WeightLoadException">Missing, truncated or corrupt file, or a top-level object that is not a dictionary.</exception>
    public static Hashtable Read(string path)
    {
        if (!File.Exists(path)) throw new WeightLoadException(path, "missing file");
        try
        {
            using var stream = File.OpenRead(path);
            return PyTorchUnpickler.UnpickleStateDict(stream, true, false);
        }
        catch (Exception e) when (e is not WeightLoadException)
        {
            // PyBridge reports a cut-off archive as InvalidDataException, a single tensor as InvalidCastException,
            // a bad pickle as PickleException: to the caller all of these are a file that cannot be read.
            throw new WeightLoadException(path, $"truncated or corrupt torch.save state dict ({e.GetType().Name}: {e.Message})", e);
        }
    }
}
