using System.IO.Compression;
using System.Runtime.CompilerServices;
using Razorvine.Pickle;
using Razorvine.Pickle.Objects;
using TorchSharp;
using TorchSharp.PyBridge;

namespace ReconService.Engine.Loading;

/// <summary>
/// Reads a <c>torch.save</c> file whose top-level object is one tensor (TDB's <c>model_pieces/&lt;parameter&gt;.pt</c>).
/// </summary>
/// <remarks>
/// The file is a zip holding <c>&lt;archive&gt;/data.pkl</c>, a pickle that calls
/// <c>torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)</c> where
/// <c>storage</c> is a persistent id <c>("storage", torch.&lt;Type&gt;Storage, key, location, numel)</c>, and the raw
/// little-endian storage bytes in <c>&lt;archive&gt;/data/&lt;key&gt;</c>. TorchSharp.PyBridge only reads state dicts
/// (it casts the unpickled object to a dictionary), so this reader unpickles with Razorvine.Pickle itself.
/// </remarks>
internal static class TorchTensorFileReader
{
    static TorchTensorFileReader()
    {
        // Razorvine's constructor registry is process-wide, and PyBridge fills it in its static constructor.
        // Run that first, so that PyBridge cannot later replace ours; ours hands PyBridge's storages back to it.
        RuntimeHelpers.RunClassConstructor(typeof(PyTorchUnpickler).TypeHandle);
        TensorUnpickler.InstallRebuildConstructor();
    }

    /// <summary>Reads the single tensor stored in <paramref name="path"/>, as float32 on the CPU.</summary>
    /// <param name="path">The <c>.pt</c> file.</param>
    /// <param name="name">Parameter name, for messages.</param>
    /// <exception cref="WeightLoadException">
    /// Missing, truncated or corrupt file; an object other than one tensor; a dtype other than float32/float16/bfloat16;
    /// a non-contiguous layout.
    /// </exception>
    public static torch.Tensor Read(string path, string name)
    {
        if (!File.Exists(path)) throw new WeightLoadException(path, $"tensor '{name}': missing file");
        object result;
        try
        {
            using var stream = File.OpenRead(path);
            using var archive = new ZipArchive(stream, ZipArchiveMode.Read);
            var pickle = archive.Entries.FirstOrDefault(e => e.FullName == "data.pkl" || e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal))
                ?? throw new WeightLoadException(path, $"tensor '{name}': no data.pkl in the archive (not a torch.save file)");
            var prefix = pickle.FullName[..^"data.pkl".Length];
            using var unpickler = new TensorUnpickler(archive, prefix, path, name);
            using var pickleStream = pickle.Open();
            result = unpickler.load(pickleStream);
        }
        catch (WeightLoadException) { throw; }
        catch (Exception e)
        {
            throw new WeightLoadException(path, $"tensor '{name}': truncated or corrupt torch.save file ({e.GetType().Name}: {e.Message})", e);
        }
        if (result is not torch.Tensor tensor)
            throw new WeightLoadException(path, $"tensor '{name}': expected the file to hold one tensor, found {result?.GetType().Name ?? "None"}");
        return TensorChecks.ToFloat32(tensor, path, name);
    }

    /// <summary>A storage named by a persistent id, read when <c>_rebuild_tensor_v2</c> says which part of it is used.</summary>
    private sealed record StorageRef(TensorUnpickler Owner, torch.ScalarType DType, string Key, long Count);

    private sealed class TensorUnpickler(ZipArchive archive, string prefix, string path, string name) : Unpickler
    {
        private const string RebuildModule = "torch._utils", RebuildName = "_rebuild_tensor_v2";

        public static void InstallRebuildConstructor()
        {
            objectConstructors.TryGetValue($"{RebuildModule}.{RebuildName}", out var previous);
            registerConstructor(RebuildModule, RebuildName, new RebuildConstructor(previous));
        }

        protected override object persistentLoad(object pid)
        {
            if (pid is not object[] { Length: >= 5 } id || id[0] is not "storage" || id[1] is not ClassDictConstructor storageClass || id[2] is not string key)
                throw new WeightLoadException(path, $"tensor '{name}': unrecognised persistent id in data.pkl");
            var dtype = storageClass.name switch
            {
                "FloatStorage" => torch.ScalarType.Float32,
                "HalfStorage" => torch.ScalarType.Float16,
                "BFloat16Storage" => torch.ScalarType.BFloat16,
                var other => throw new WeightLoadException(path, $"tensor '{name}': unsupported dtype {other} (expected FloatStorage, HalfStorage or BFloat16Storage)"),
            };
            return new StorageRef(this, dtype, key, Convert.ToInt64(id[4]));
        }

        public torch.Tensor Rebuild(StorageRef storage, object[] args)
        {
            if (args.Length < 4 || args[2] is not object[] sizeItems || args[3] is not object[] strideItems)
                throw new WeightLoadException(path, $"tensor '{name}': unexpected _rebuild_tensor_v2 arguments");
            var offset = Convert.ToInt64(args[1]);
            var shape = sizeItems.Select(Convert.ToInt64).ToArray();
            var stride = strideItems.Select(Convert.ToInt64).ToArray();
            var count = shape.Aggregate(1L, (a, b) => a * b);
            if (!IsContiguous(shape, stride))
                throw new WeightLoadException(path, $"tensor '{name}': non-contiguous layout (size {TensorChecks.Format(shape)}, stride {TensorChecks.Format(stride)}) is not supported");
            if (offset < 0 || offset + count > storage.Count)
                throw new WeightLoadException(path, $"tensor '{name}': elements [{offset}, {offset + count}) lie outside its storage of {storage.Count}");
            var elementSize = storage.DType == torch.ScalarType.Float32 ? 4 : 2;
            var entry = archive.GetEntry($"{prefix}data/{storage.Key}")
                ?? throw new WeightLoadException(path, $"tensor '{name}': storage data/{storage.Key} is missing from the archive");
            if (entry.Length < storage.Count * elementSize)
                throw new WeightLoadException(path, $"tensor '{name}': storage data/{storage.Key} holds {entry.Length} bytes, expected {storage.Count * elementSize}");
            var bytes = new byte[count * elementSize];
            using (var data = entry.Open())
            {
                data.ReadExactly(new byte[offset * elementSize]);
                data.ReadExactly(bytes);
            }
            var tensor = torch.empty(shape, storage.DType);
            tensor.bytes = bytes;
            return tensor;
        }

        private static bool IsContiguous(long[] shape, long[] stride)
        {
            if (shape.Length != stride.Length) return false;
            long expected = 1;
            for (var d = shape.Length - 1; d >= 0; d--)
            {
                if (shape[d] != 1 && stride[d] != expected) return false;
                expected *= shape[d];
            }
            return true;
        }

        private sealed class RebuildConstructor(IObjectConstructor? previous) : IObjectConstructor
        {
            public object construct(object[] args)
            {
                if (args.Length > 0 && args[0] is StorageRef storage) return storage.Owner.Rebuild(storage, args);
                if (previous is null) throw new PickleException("torch._utils._rebuild_tensor_v2 called with a storage this reader did not load");
                return previous.construct(args);
            }
        }
    }
}
