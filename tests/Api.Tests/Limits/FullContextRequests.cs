using System.Text.Json;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;
using ReconService.Engine;
using ReconService.Engine.Autoencoders;
using ReconService.Engine.Hooks;
using ReconService.Engine.Loading;
using ReconService.Engine.Model;
using ReconService.Engine.Operations;
using ReconService.Engine.Reconstitution;
using ReconService.Models;
using static TorchSharp.torch;

namespace ReconService.Api.Tests.Limits;

/// <summary>One request of every engine endpoint at a model's full context, as the HTTP body and as the engine operation it maps to.</summary>
/// <param name="Name">Endpoint and variant.</param>
/// <param name="Path">Route.</param>
/// <param name="Body">The JSON body (made on demand: at 1,024 tokens some are tens of megabytes).</param>
/// <param name="Plan">The engine's plan of the same request.</param>
/// <param name="Field">The field a limit refusal names.</param>
internal sealed record FullContextRequest(string Name, string Path, Func<JsonObject> Body, Func<EnginePlan<IEngineResult>> Plan, string Field);

/// <summary>
/// Every engine endpoint at <c>n_ctx</c> tokens (issue 14's "every reconstitution endpoint at full context"): each node
/// type's activations, gradient and JVP (one autoencoder node type per loaded family, at its first layer), block outputs,
/// attention values, logits, logprobs, each family's encode and latent gradient, and a forward pass capturing every
/// residual and MLP activation.
/// </summary>
internal static class FullContextRequests
{
    public static IEnumerable<FullContextRequest> For(ReconstitutionEngine engine)
    {
        var c = engine.Config;
        var t = c.NCtx;
        var layer = Math.Min(1, c.NLayers - 1);
        var r = new RequestBuilder(c.DModel);
        var residual = new ShapeInput("residual", [t, c.DModel]);
        var nodes = new List<(string Name, string NodeType, ActivationSpec Spec, long[] Index)>
        {
            ("attention_head", "attention_head", new(NodeType.AttentionHead, layer, PreOrPostAct.Post, AttentionTraceType.QK), [t - 1, 0, 0]),
            ("mlp_neuron", "mlp_neuron", new(NodeType.MlpNeuron, layer, PreOrPostAct.Post), [t - 1, 0]),
        };
        foreach (var a in engine.Autoencoders.Values.OrderBy(a => a.Name, StringComparer.Ordinal))
        {
            var wire = JsonSerializer.SerializeToNode(a.NodeType, Wire.Json)!.GetValue<string>();
            nodes.Add(($"{wire} {a.Name}", wire, new(a.NodeType, a.Layers[0], PreOrPostAct.Post, Autoencoder: a.Name), [t - 1, 0]));
        }
        foreach (var (name, nodeType, spec, index) in nodes)
        {
            JsonObject Body() => r.Activations(nodeType, tokens: t, layer: spec.LayerIndex).Also(b => { if (spec.Autoencoder is { } ae) b["autoencoder"] = ae; });
            yield return new($"activations {name}", "/v1/activations", Body,
                () => Erase(new ActivationsOperation(residual, spec).Plan(engine)), "residual.shape");
            yield return new($"gradients {name}", "/v1/gradients", () => Body().With("tensorIndices", new JsonArray(index.Select(i => (JsonNode)i).ToArray())),
                () => Erase(new GradientOperation(residual, spec, index).Plan(engine)), "residual.shape");
            yield return new($"jvp {name}", "/v1/jvp", () => Body().With("writeVector", r.Residual(t)),
                () => Erase(new JvpOperation(residual, spec, new ShapeInput("writeVector", [t, c.DModel])).Plan(engine)), "residual.shape");
        }
        yield return new("resid-deltas/attn", "/v1/resid-deltas/attn", () => r.Block(t, layer),
            () => Erase(new ResidDeltaAttnOperation(residual, layer).Plan(engine)), "residual.shape");
        yield return new("resid-deltas/mlp", "/v1/resid-deltas/mlp", () => r.Block(t, layer),
            () => Erase(new ResidDeltaMlpOperation(residual, layer).Plan(engine)), "residual.shape");
        yield return new("attention-values", "/v1/attention-values", () => r.Block(t, layer),
            () => Erase(new AttentionValuesOperation(residual, layer).Plan(engine)), "residual.shape");
        yield return new("logits", "/v1/logits", () => r.Final(t), () => Erase(new LogitsOperation(residual).Plan(engine)), "residual.shape");
        yield return new("logprobs", "/v1/logprobs", () => r.Final(t), () => Erase(new LogprobsOperation(residual).Plan(engine)), "residual.shape");
        foreach (var a in engine.Autoencoders.Values.OrderBy(a => a.Name, StringComparer.Ordinal))
        {
            var activations = new ShapeInput("activations", [t, a.NInputs]);
            var aeLayer = a.Layers[0];
            yield return new($"encode {a.Name}", $"/v1/autoencoders/{a.Name}/encode", () => RequestBuilder.Encode(a.NInputs, t, aeLayer),
                () => Erase(new EncodeOperation(a.Name, activations, aeLayer).Plan(engine)), "activations.shape");
            yield return new($"latent-gradient {a.Name}", $"/v1/autoencoders/{a.Name}/latent-gradient",
                () => RequestBuilder.Encode(a.NInputs, t, aeLayer).With("latentIndex", 0),
                () => Erase(new LatentGradientOperation(a.Name, activations, aeLayer, 0).Plan(engine)), "activations.shape");
        }
        string[] capture = [ActivationLocations.ResidPostEmb, ActivationLocations.ResidPostAttn, ActivationLocations.ResidPostMlp, ActivationLocations.MlpPostAct];
        var tokens = Enumerable.Range(0, t).Select(i => i % c.NVocab).ToArray();
        yield return new("forward capturing every residual and MLP activation", "/v1/forward",
            () => new JsonObject { ["tokens"] = new JsonArray(tokens.Select(i => (JsonNode)i).ToArray()), ["capture"] = new JsonArray(capture.Select(l => (JsonNode)l).ToArray()) },
            () => Erase(new ForwardOperation(tokens, "tokens", capture, null, 5).Plan(engine)), "capture");
    }

    /// <summary>Values in every tensor of an answer (objects with <c>shape</c> and <c>data</c>, at any depth).</summary>
    public static long Values(JsonElement answer) => answer.ValueKind switch
    {
        JsonValueKind.Object when answer.TryGetProperty("shape", out var shape) && answer.TryGetProperty("data", out _) =>
            shape.EnumerateArray().Aggregate(1L, (n, d) => n * d.GetInt64()),
        JsonValueKind.Object => answer.EnumerateObject().Sum(p => Values(p.Value)),
        JsonValueKind.Array => answer.EnumerateArray().Sum(Values),
        _ => 0,
    };

    private static EnginePlan<IEngineResult> Erase<T>(EnginePlan<T> plan) where T : IEngineResult =>
        new(null!, plan.Inputs, plan.Outputs, plan.WorkingMemoryBytes);

    /// <summary>A request tensor known by its shape only: plans never read data.</summary>
    private sealed record ShapeInput(string Field, IReadOnlyList<long> Shape) : ITensorInput
    {
        public string Dtype => "float32";
        public Tensor Read() => throw new InvalidOperationException("planning reads no data");
    }
}

/// <summary>
/// A GPT-2-small-shaped engine (d_model 768, 12 layers, 12 heads, n_ctx 1,024, n_vocab 50,257) over uninitialised
/// weights, for planning only (untouched memory costs nothing). Autoencoders at layer 1 of published GPT-2-small sizes:
/// 32,768 latents on MLP activations and on the attention output (OpenAI's v5 32k), 24,576 on the residual before the
/// layer (SAELens gpt2-small-res-jb), and a 24,576-latent transcoder.
/// </summary>
internal static class Gpt2SmallShapes
{
    public const int Layer = 1;
    public static readonly GptConfig Config = new(DModel: 768, NLayers: 12, NHeads: 12, NCtx: 1024, NVocab: 50257);

    public static ReconstitutionEngine Engine()
    {
        var c = Config;
        var p = new Dictionary<string, Tensor>
        {
            ["tok_embed.weight"] = Empty(c.NVocab, c.DModel), ["pos_embed.weight"] = Empty(c.NCtx, c.DModel),
            ["final_ln.weight"] = Empty(c.DModel), ["final_ln.bias"] = Empty(c.DModel), ["unembed.weight"] = Empty(c.NVocab, c.DModel),
        };
        for (var l = 0; l < c.NLayers; l++)
        {
            var k = $"xf_layers.{l}";
            foreach (var ln in new[] { "ln_1", "ln_2" })
            {
                p[$"{k}.{ln}.weight"] = Empty(c.DModel);
                p[$"{k}.{ln}.bias"] = Empty(c.DModel);
            }
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                p[$"{k}.attn.{proj}.weight"] = Empty(c.DModel, c.DModel);
                p[$"{k}.attn.{proj}.bias"] = Empty(c.DModel);
            }
            p[$"{k}.mlp.in_layer.weight"] = Empty(c.DFf, c.DModel);
            p[$"{k}.mlp.in_layer.bias"] = Empty(c.DFf);
            p[$"{k}.mlp.out_layer.weight"] = Empty(c.DModel, c.DFf);
            p[$"{k}.mlp.out_layer.bias"] = Empty(c.DModel);
        }
        return new ReconstitutionEngine(new GptCheckpoint(c, p),
        [
            Set("mlp-32k", AutoencoderInputType.MlpPostAct, c.DFf, 32768),
            Set("attn-32k", AutoencoderInputType.ResidDeltaAttn, c.DModel, 32768),
            Set("res-jb", AutoencoderInputType.ResidPre, c.DModel, 24576),
            Set("transcoder", AutoencoderInputType.Ln2Normalized, c.DModel, 24576) with { OutputType = AutoencoderInputType.ResidDeltaMlp },
        ]);
    }

    private static AutoencoderSet Set(string name, AutoencoderInputType input, int nInputs, int nLatents) =>
        new(name, input, new Dictionary<int, Autoencoder>
        {
            [Layer] = new(Empty(nInputs), Empty(nLatents, nInputs), Empty(nLatents), Empty(nInputs, nLatents), AutoencoderActivation.ReLU),
        });

    private static Tensor Empty(params long[] shape) => empty(shape).DetachFromDisposeScope();
}
