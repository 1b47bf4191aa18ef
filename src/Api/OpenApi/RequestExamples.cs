using ReconService.Api.Hosting;
using ReconService.Api.Tensors;
using ReconService.Api.Tokenization;
using ReconService.Engine;
using ReconService.Engine.Hooks;
using ReconService.Engine.Loading;
using ReconService.Engine.Operations;
using ReconService.Models;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;
using TorchSharp;

namespace ReconService.Api.OpenApi;

/// <summary>One request example: a name, a summary, the body and the path values it needs.</summary>
public sealed record RequestExample(string Name, string Summary, object Body, IReadOnlyDictionary<string, string> RouteValues);

/// <summary>
/// Request examples built from the loaded model: real residual streams from a forward pass over a short
/// prompt, so every example has the model's own sizes and succeeds when sent from Swagger UI.
/// </summary>
public sealed class RequestExamples(EngineHost host, GptTokenizer tokenizer)
{
    /// <summary>The prompt the examples' tensors come from.</summary>
    public const string Prompt = "In the beginning God created the heaven and the earth.";

    private readonly Lock _lock = new();
    private IReadOnlyDictionary<ExampleKind, RequestExample[]>? _examples;

    /// <summary>The examples of one kind; empty until the engine is loaded.</summary>
    public IReadOnlyList<RequestExample> Get(ExampleKind kind)
    {
        if (!host.IsReady) return [];
        lock (_lock) _examples ??= Build(host.Engine);
        return _examples.TryGetValue(kind, out var examples) ? examples : [];
    }

    /// <summary>The prompt of the attribution examples, and the next token they explain.</summary>
    public const string AttributionPrompt = "And the", AttributionTarget = " LORD", AttributionDistractor = " king";

    /// <summary>
    /// "Which nodes make the model predict ' LORD' after 'And the'?": logit_diff against ' king' (the first token of each
    /// text), neurons and heads; and, when an MLP autoencoder is loaded, the same with it spliced in and the top 3 nodes verified.
    /// </summary>
    private RequestExample[] AttributionExamples(IReconstitutionEngine engine)
    {
        var noRoute = new Dictionary<string, string>();
        var vocabulary = engine.Config.NVocab;
        var target = tokenizer.Encode(AttributionTarget)[0];
        var distractor = tokenizer.Encode(AttributionDistractor)[0];
        var prompt = tokenizer.Encode(AttributionPrompt);
        // A model with a smaller vocabulary than GPT-2's (a test model) is asked about the ids folded into its own, as tokens.
        var fits = prompt.Append(target).Append(distractor).All(t => t < vocabulary);
        if (!fits) (target, distractor) = (target % vocabulary, distractor % vocabulary);
        var loss = new AttributionLossRequest { Name = AttributionLossName.LogitDiff, TargetTokens = [target], DistractorTokens = [distractor] };
        AttributionRequest Ask() => fits
            ? new AttributionRequest { Prompt = AttributionPrompt, Loss = loss, TopK = 5 }
            : new AttributionRequest { Tokens = new TokenSequences([[.. prompt.Select(t => t % vocabulary)]], batched: false), Loss = loss, TopK = 5 };
        var list = new List<RequestExample>
        {
            new("lord", $"Which nodes make the model predict '{AttributionTarget}' (rather than '{AttributionDistractor}') after '{AttributionPrompt}'?",
                Ask(), noRoute),
        };
        // Only families attribution splices (mlp.post_act, resid.delta_mlp, resid.delta_attn), an MLP one first.
        AutoencoderInputType[] spliced = [AutoencoderInputType.MlpPostAct, AutoencoderInputType.ResidDeltaMlp, AutoencoderInputType.ResidDeltaAttn];
        if (engine.Autoencoders.Values.Where(a => spliced.Contains(a.InputType))
                .OrderBy(a => a.NodeType == NodeType.MlpAutoencoderLatent ? 0 : 1).ThenBy(a => a.Name, StringComparer.Ordinal).FirstOrDefault() is { } ae)
            list.Add(new("lordWithAutoencoder", $"The same with autoencoder {ae.Name} spliced in, its latents and errors as nodes, the top 3 nodes verified",
                Ask() with { Autoencoders = [ae.Name], VerifyTopN = 3 }, noRoute));
        return [.. list];
    }

    private Dictionary<ExampleKind, RequestExample[]> Build(IReconstitutionEngine engine)
    {
        var config = engine.Config;
        var tokens = tokenizer.Encode(Prompt).Take(config.NCtx).ToArray();
        // A model with a smaller vocabulary than GPT-2's (a test model) gets the prompt's ids folded into its own, as tokens.
        var promptFits = tokens.All(t => t < config.NVocab);
        if (!promptFits) tokens = tokens.Select(t => t % config.NVocab).ToArray();
        var mlpLayer = Math.Min(1, config.NLayers - 1);
        var last = config.NLayers - 1;
        string[] capture = [ActivationLocations.ResidPostEmb, ActivationLocations.ResidPostAttn, ActivationLocations.ResidPostMlp,
            ActivationLocations.MlpPostAct, ActivationLocations.ResidDeltaMlp, ActivationLocations.ResidDeltaAttn];

        using var scope = torch.NewDisposeScope();
        var forward = engine.Execute(new ForwardOperation(tokens, "tokens", capture, null, 0)).Tensors.ToDictionary(t => t.Name, t => t.Tensor);
        TensorPayload At(string location, int layer) =>
            TensorCodec.Copy(forward[ForwardOperation.OutputName(location, layer < 0 ? null : layer)]);
        var postEmb = At(ActivationLocations.ResidPostEmb, -1);
        var postAttn = At(ActivationLocations.ResidPostAttn, mlpLayer);
        var final = At(ActivationLocations.ResidPostMlp, last);
        var noRoute = new Dictionary<string, string>();

        var activations = new List<RequestExample>
        {
            new("mlpNeuron", $"MLP post-activations of layer {mlpLayer}",
                new ActivationsRequest { Residual = postAttn, LayerIndex = mlpLayer, NodeType = NodeType.MlpNeuron, PreOrPostAct = PreOrPostAct.Post }, noRoute),
            new("attentionHead", "Attention probabilities of layer 0",
                new ActivationsRequest { Residual = postEmb, LayerIndex = 0, NodeType = NodeType.AttentionHead, PreOrPostAct = PreOrPostAct.Post, AttentionTraceType = AttentionTraceType.QK }, noRoute),
        };
        var examples = new Dictionary<ExampleKind, RequestExample[]>
        {
            [ExampleKind.Gradients] = [new("mlpNeuron", $"Gradient of neuron 0 at the last token, layer {mlpLayer}",
                new GradientsRequest { Residual = postAttn, LayerIndex = mlpLayer, NodeType = NodeType.MlpNeuron, PreOrPostAct = PreOrPostAct.Post, TensorIndices = [tokens.Length - 1, 0] }, noRoute)],
            [ExampleKind.Jvp] = [new("attentionHead", "JVP of layer 0's attention probabilities along the residual itself",
                new JvpRequest { Residual = postEmb, LayerIndex = 0, NodeType = NodeType.AttentionHead, PreOrPostAct = PreOrPostAct.Post, AttentionTraceType = AttentionTraceType.QK, WriteVector = postEmb }, noRoute)],
            [ExampleKind.ResidDeltaAttn] = [new("layer0", "Layer 0's attention output", new ResidDeltaRequest { Residual = postEmb, LayerIndex = 0 }, noRoute)],
            [ExampleKind.ResidDeltaMlp] = [new($"layer{mlpLayer}", $"Layer {mlpLayer}'s MLP output", new ResidDeltaRequest { Residual = postAttn, LayerIndex = mlpLayer }, noRoute)],
            [ExampleKind.AttentionValues] = [new("layer0", "Layer 0's attention and values", new AttentionValuesRequest { Residual = postEmb, LayerIndex = 0 }, noRoute)],
            [ExampleKind.Logits] = [new("final", "Logits from the last layer's residual", new LogitsRequest { Residual = final }, noRoute)],
            [ExampleKind.Logprobs] = [new("final", "Log-probabilities from the last layer's residual", new LogitsRequest { Residual = final }, noRoute)],
            [ExampleKind.Forward] = [new("prompt", "Forward pass capturing resid.post_attn and mlp.post_act at layer 0",
                promptFits
                    ? new ForwardRequest { Prompt = Prompt, Capture = [ActivationLocations.ResidPostAttn, ActivationLocations.MlpPostAct], Layers = [0] }
                    : new ForwardRequest { Tokens = tokens, Capture = [ActivationLocations.ResidPostAttn, ActivationLocations.MlpPostAct], Layers = [0] }, noRoute)],
            [ExampleKind.Tokenize] = [new("prompt", "Tokens of a verse", new TokenizeRequest { Text = Prompt }, noRoute)],
        };

        // Latents of every family from the residual it is reconstituted from (GET /v1/model's residual); encode and the
        // latent gradient (whose route names one family) for the first family, from its own input activation.
        TensorPayload Residual(string residual, int layer) => residual switch
        {
            "resid.pre" => layer == 0 ? postEmb : At(ActivationLocations.ResidPostMlp, layer - 1),
            "resid.post_mlp" => At(ActivationLocations.ResidPostMlp, layer),
            _ => At(ActivationLocations.ResidPostAttn, layer),
        };
        var families = engine.Autoencoders.Values.Where(a => a.Layers.Count > 0).OrderBy(a => a.Name, StringComparer.Ordinal).ToList();
        foreach (var ae in families)
        {
            var layer = ae.Layers[0];
            var residual = ae.Details?.Residual ?? AutoencoderInputTypes.Residual(ae.InputType);
            activations.Add(new(families.Count == 1 ? "autoencoderLatent" : $"autoencoderLatent-{ae.Name}",
                $"Latents of autoencoder {ae.Name} at layer {layer}, from its residual ({residual})",
                new ActivationsRequest { Residual = Residual(residual, layer), LayerIndex = layer, NodeType = ae.NodeType, PreOrPostAct = PreOrPostAct.Post, Autoencoder = ae.Name },
                noRoute));
        }
        if (families.FirstOrDefault() is { } first)
        {
            var layer = first.Layers[0];
            var inputName = JsonNamingOf(first.InputType);
            var input = first.InputType switch
            {
                AutoencoderInputType.MlpPostAct => At(ActivationLocations.MlpPostAct, layer),
                AutoencoderInputType.ResidDeltaMlp => At(ActivationLocations.ResidDeltaMlp, layer),
                AutoencoderInputType.ResidDeltaAttn => At(ActivationLocations.ResidDeltaAttn, layer),
                AutoencoderInputType.Ln2Normalized => Normalized(forward[ForwardOperation.OutputName(ActivationLocations.ResidPostAttn, layer)], config.LayerNormEpsilon),
                _ => Residual(AutoencoderInputTypes.Residual(first.InputType), layer),
            };
            var route = new Dictionary<string, string> { ["name"] = first.Name };
            examples[ExampleKind.Encode] = [new(first.Name, $"{inputName} of layer {layer} through autoencoder {first.Name}",
                new EncodeRequest { Activations = input, LayerIndex = layer }, route)];
            examples[ExampleKind.LatentGradient] = [new(first.Name, $"Gradient of latent 0 of autoencoder {first.Name} at layer {layer}",
                new LatentGradientRequest { Activations = input, LayerIndex = layer, LatentIndex = 0 }, route)];
        }
        examples[ExampleKind.Activations] = activations.ToArray();
        examples[ExampleKind.Attribution] = AttributionExamples(engine);
        return examples;
    }

    /// <summary>The wire spelling of an input type (<c>mlp.post_act</c>, <c>ln_2.normalized</c>, ...).</summary>
    private static string JsonNamingOf(AutoencoderInputType type) =>
        System.Text.Json.JsonSerializer.SerializeToNode(type)!.GetValue<string>();

    /// <summary>
    /// <c>ln_2.normalized</c> of a <c>resid.post_attn</c> <c>[tokens, d_model]</c>: centred and divided by its root mean
    /// square plus eps (the MLP's layer norm before its weight and bias), what a transcoder reads.
    /// </summary>
    private static TensorPayload Normalized(torch.Tensor residPostAttn, double eps)
    {
        var centred = residPostAttn - residPostAttn.mean([-1], keepdim: true);
        return TensorCodec.Copy(centred / (centred.square().mean([-1], keepdim: true) + eps).sqrt());
    }
}
