using System.Buffers.Binary;
using System.Text.Json;
using static TorchSharp.torch;

namespace ReconService.Bench.Weights;

/// <summary>
/// Writes float32 tensors in the safetensors format: an 8-byte little-endian header length, a JSON header
/// (<c>{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}}</c>), then the raw data.
/// </summary>
internal static class SafetensorsWriter
{
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            if (tensor.dtype != ScalarType.Float32) throw new ArgumentException($"{name}: only float32 is written");
            var bytes = tensor.numel() * sizeof(float);
            header[name] = new { dtype = "F32", shape = tensor.shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        // The header is padded with spaces to 8 bytes, as the reference writer does, so the data stays aligned.
        var padded = (json.Length + 7) / 8 * 8;
        var tmp = path + ".tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(length, padded);
            stream.Write(length);
            stream.Write(json);
            for (var i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var (_, tensor) in tensors)
            {
                using var contiguous = tensor.contiguous();
                stream.Write(contiguous.bytes);
            }
        }
        File.Move(tmp, path, overwrite: true);
    }
}
