using System.Text;
using ReconService.Bench.Benchmarks;
using ReconService.Engine.Reconstitution;
using ReconService.Models.Tensors;
using ReconService.Models.Tensors.Safetensors;
using static TorchSharp.torch;

namespace ReconService.Bench.Transport;

/// <summary>
/// One case of the transport matrix: an activation (MLP post or attention probabilities) at a size, optionally cut to
/// its top k per row, with its request as JSON (base64) and as safetensors, built once from the same residual.
/// </summary>
internal sealed class TransportCase : IDisposable
{
    public TransportCase(string op, int tokens, int batch, int? topK = null)
    {
        Op = op;
        Tokens = tokens;
        Batch = batch;
        TopK = topK;
        Spec = op == "attn probs" ? Workload.AttnPost : Workload.MlpPost;
        var (residual, write) = Workload.RandomInputs(tokens, batch);
        write.Dispose();
        Residual = residual.DetachFromDisposeScope();
        var output = topK is { } k ? $",\"output\":{{\"topK\":{k}}}" : "";
        FieldsJson = op == "attn probs"
            ? $"{{\"layerIndex\":{Workload.Layer},\"nodeType\":\"attention_head\",\"preOrPostAct\":\"post\",\"attentionTraceType\":\"QK\"{output}}}"
            : $"{{\"layerIndex\":{Workload.Layer},\"nodeType\":\"mlp_neuron\",\"preOrPostAct\":\"post\"{output}}}";
        var bytes = Residual.contiguous().bytes.ToArray();
        JsonBody = Encoding.UTF8.GetBytes(
            $"{{\"residual\":{{\"dtype\":\"float32\",\"shape\":[{string.Join(",", Residual.shape)}],\"data\":\"{Convert.ToBase64String(bytes)}\"}},{FieldsJson[1..]}");
        SafetensorsBody = SafetensorsFile.Create([new("residual", new TensorBytes(TensorDtype.Float32, Residual.shape, bytes))],
            new Dictionary<string, string> { [SafetensorsMediaType.RequestJsonKey] = FieldsJson }).ToArray();
        // The answer's values: [tokens, d_ff] or [q, k, heads] per sequence, or k per row (plus as many int32 indices).
        long perSequence = topK is { } kept ? (long)tokens * (op == "attn probs" ? tokens : 1) * kept * 2
            : op == "attn probs" ? (long)tokens * tokens * 12 : (long)tokens * 3072;
        AnswerBytes = perSequence * batch * sizeof(float) + 256;
    }

    public string Op { get; }
    public int Tokens { get; }
    public int Batch { get; }
    public int? TopK { get; }
    public ActivationSpec Spec { get; }
    public Tensor Residual { get; }
    public string FieldsJson { get; }
    public byte[] JsonBody { get; }
    public byte[] SafetensorsBody { get; }

    /// <summary>About the bytes of the safetensors answer (values plus a 256-byte header): what the floor sends back.</summary>
    public long AnswerBytes { get; }

    public string Name => $"{Op}{(TopK is { } k ? $" top-{k}" : "")}, {Tokens} × {Batch}";

    public void Dispose() => Residual.Dispose();
}
