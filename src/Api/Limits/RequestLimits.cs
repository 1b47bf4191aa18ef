using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Reflection;
using ReconService.Api.Errors;
using ReconService.Engine;
using ReconService.Engine.Hooks;
using ReconService.Models;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;

namespace ReconService.Api.Limits;

/// <summary>
/// Checks that cost nothing and run before a request takes a queue slot or allocates a tensor: base64 length
/// against shape × dtype size (400 naming <c>.data</c>), tokens × batch against
/// <see cref="TokenLimitsOptions.MaxTokensPerRequest"/> (422 naming <c>.shape</c> or <c>tokens</c>), and the
/// number of values the answer would hold against <see cref="TokenLimitsOptions.MaxResponseElements"/>
/// (422 naming <c>.shape</c>, <c>tokens</c> or <c>capture</c>).
/// </summary>
public static class RequestLimits
{
    private static readonly ConcurrentDictionary<Type, (string Field, PropertyInfo Property)[]> Payloads = new();
    private static readonly ConcurrentDictionary<Type, PropertyInfo?> TokenArrays = new();

    /// <summary>The first problem among the endpoint's arguments, or null.</summary>
    /// <param name="arguments">The endpoint's arguments (request record, route values).</param>
    /// <param name="limits">The configured limits.</param>
    /// <param name="engine">The loaded engine, for the response size (its model's widths); null skips that check.</param>
    public static IResult? Check(IList<object?> arguments, TokenLimitsOptions limits, IReconstitutionEngine? engine = null)
    {
        var routeName = arguments.OfType<string>().FirstOrDefault();
        foreach (var argument in arguments)
        {
            if (argument is null) continue;
            var type = argument.GetType();
            foreach (var (field, property) in Payloads.GetOrAdd(type, FindPayloads))
            {
                if (property.GetValue(argument) is not TensorPayload payload) continue;
                if (CheckPayload(payload, field, limits) is { } problem) return problem;
            }
            if (TokenArrays.GetOrAdd(type, t => t.GetProperty("Tokens", typeof(int[])))?.GetValue(argument) is int[] tokens
                && tokens.Length > limits.MaxTokensPerRequest)
                return Problem(StatusCodes.Status422UnprocessableEntity, "tokens",
                    $"expected at most {limits.MaxTokensPerRequest} tokens (Limits:MaxTokensPerRequest), got {tokens.Length}");
            if (engine is not null && CheckResponseSize(argument, routeName, engine, limits) is { } tooLarge)
                return Problem(StatusCodes.Status422UnprocessableEntity, tooLarge.Field, tooLarge.Message);
        }
        return null;
    }

    /// <summary>
    /// How many values the answer to <paramref name="request"/> would hold, when that can exceed the request's own
    /// size (logits, attention, MLP activations, latents, forward captures), and the request field that sets it.
    /// Null for answers shaped like an input (gradients, block outputs), which the token limit already bounds.
    /// </summary>
    public static (long Elements, string Field, string Shape)? ResponseElements(object request, string? autoencoderName, IReconstitutionEngine engine)
    {
        var config = engine.Config;
        switch (request)
        {
            case GradientsRequest or LatentGradientRequest:
                return null;
            case ActivationsRequest a when Rows(a.Residual) is var (batch, tokens):
                long width = a.NodeType switch
                {
                    NodeType.AttentionHead => checked(tokens * config.NHeads),
                    NodeType.MlpNeuron => config.DFf,
                    _ => Latents(engine, a.Autoencoder, a.LatentSlice),
                };
                return (checked(batch * tokens * width), "residual.shape", ShapeText(a.Residual));
            case AttentionValuesRequest v when Rows(v.Residual) is var (batch, tokens):
                return (checked(batch * tokens * (tokens * config.NHeads + config.DModel)), "residual.shape", ShapeText(v.Residual));
            case LogitsRequest l when Rows(l.Residual) is var (batch, tokens):
                return (checked(batch * tokens * config.NVocab), "residual.shape", ShapeText(l.Residual));
            case EncodeRequest e when Rows(e.Activations) is var (batch, tokens):
                return (checked(batch * tokens * Latents(engine, autoencoderName, null)), "activations.shape", ShapeText(e.Activations));
            case ForwardRequest f when f.Tokens is { } ids:
                return ForwardElements(ids.Length, f, engine);
            default:
                return null;
        }
    }

    /// <summary>Values a forward pass over <paramref name="tokens"/> tokens holds: the logits, plus every captured tensor.</summary>
    public static (long Elements, string Field, string Shape) ForwardElements(int tokens, ForwardRequest request, IReconstitutionEngine engine)
    {
        var config = engine.Config;
        var layers = request.Layers is { } chosen ? chosen.Distinct().Count() : config.NLayers;
        long total = checked((long)tokens * config.NVocab);
        foreach (var location in (request.Capture ?? []).Distinct())
        {
            long perLayer = location switch
            {
                ActivationLocations.Logits => (long)tokens * config.NVocab,
                ActivationLocations.AttnQkLogits or ActivationLocations.AttnQkProbs => (long)tokens * tokens * config.NHeads,
                ActivationLocations.MlpPreAct or ActivationLocations.MlpPostAct => (long)tokens * config.DFf,
                _ => (long)tokens * config.DModel,
            };
            total = checked(total + perLayer * (ActivationLocations.IsPerLayer(location) ? layers : 1));
        }
        var field = request.Capture is { Length: > 0 } ? "capture" : "tokens";
        return (total, field, $"{tokens} tokens, capture [{string.Join(", ", request.Capture ?? [])}]");
    }

    /// <summary>The 422 for an answer over <see cref="TokenLimitsOptions.MaxResponseElements"/>, or null.</summary>
    public static (string Field, string Message)? TooLarge((long Elements, string Field, string Shape)? size, TokenLimitsOptions limits) =>
        size is var (elements, field, shape) && elements > limits.MaxResponseElements
            ? (field, $"the answer would hold {elements} values; expected at most {limits.MaxResponseElements} (Limits:MaxResponseElements), got {shape}; send fewer tokens or a smaller batch")
            : null;

    private static (string Field, string Message)? CheckResponseSize(object request, string? autoencoderName, IReconstitutionEngine engine, TokenLimitsOptions limits)
    {
        try
        {
            return TooLarge(ResponseElements(request, autoencoderName, engine), limits);
        }
        catch (OverflowException)
        {
            return ("body", $"the answer would hold more than {long.MaxValue} values; expected at most {limits.MaxResponseElements} (Limits:MaxResponseElements)");
        }
    }

    /// <summary>Batch (product of the leading axes) and tokens of a <c>[..., tokens, width]</c> payload; null for other ranks (the handler rejects those).</summary>
    private static (long Batch, long Tokens)? Rows(TensorPayload? payload)
    {
        if (payload is null || payload.Shape.Count < 2) return null;
        var shape = payload.Shape;
        long batch = 1;
        for (var i = 0; i < shape.Count - 2; i++) batch = checked(batch * shape[i]);
        return (batch, shape[^2]);
    }

    /// <summary>Latents per token: the slice's width, else the named autoencoder's, else the widest configured.</summary>
    private static long Latents(IReconstitutionEngine engine, string? name, LatentSlice? slice)
    {
        if (slice is { } s && s.Stop > s.Start && s.Start >= 0) return s.Stop - s.Start;
        if (name is not null && engine.Autoencoders.TryGetValue(name, out var named)) return named.NLatents;
        return engine.Autoencoders.Count == 0 ? 0 : engine.Autoencoders.Values.Max(a => a.NLatents);
    }

    private static string ShapeText(TensorPayload? payload) => $"shape [{string.Join(", ", payload?.Shape ?? [])}]";

    private static IResult? CheckPayload(TensorPayload payload, string field, TokenLimitsOptions limits)
    {
        var shape = payload.Shape;
        long elements;
        try { elements = payload.ElementCount; }
        catch (OverflowException)
        {
            return Problem(StatusCodes.Status400BadRequest, $"{field}.shape", "the shape's element count overflows");
        }
        if (shape.Count >= 2)
        {
            long rows = 1;
            for (var i = 0; i < shape.Count - 1; i++) rows *= shape[i];
            if (rows > limits.MaxTokensPerRequest)
                return Problem(StatusCodes.Status422UnprocessableEntity, $"{field}.shape",
                    $"expected at most {limits.MaxTokensPerRequest} tokens × batch (Limits:MaxTokensPerRequest), got [{string.Join(", ", shape)}]");
        }
        if (!payload.HasValues && payload.ElementSize > 0)
        {
            var expected = (elements * payload.ElementSize + 2) / 3 * 4;
            if (payload.Base64Utf8.Length != expected && !Base64.IsValid(payload.Base64Utf8.Span))
                return Problem(StatusCodes.Status400BadRequest, $"{field}.data", "data is not valid base64 (RFC 4648 with padding)");
            if (payload.Base64Utf8.Length != expected)
                return Problem(StatusCodes.Status400BadRequest, $"{field}.data",
                    $"shape [{string.Join(", ", shape)}] of {payload.Dtype} needs base64 of length {expected}, got {payload.Base64Utf8.Length}");
        }
        return null;
    }

    private static IResult Problem(int status, string field, string message) => LimitProblem.Create(status, field, message);

    private static (string, PropertyInfo)[] FindPayloads(Type type) => type
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.PropertyType == typeof(TensorPayload) && p.GetIndexParameters().Length == 0)
        .Select(p => (char.ToLowerInvariant(p.Name[0]) + p.Name[1..], p))
        .ToArray();
}
