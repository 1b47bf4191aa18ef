using System.Net;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>
/// Each validation class of the reliability issue, as a table: status, application/problem+json, the field named and
/// what the detail says was expected.
/// </summary>
[Collection(DefaultModel.Name)]
public sealed class ValidationClassTests(DefaultModelService service)
{
    private sealed record Case(string Path, Func<DefaultModelService, JsonObject> Body, HttpStatusCode Status, string Field, Func<DefaultModelService, string[]> Says);

    private static float[] With(int count, params (int At, float Value)[] values)
    {
        var array = new float[count];
        foreach (var (at, value) in values) array[at] = value;
        return array;
    }

    private static JsonObject Latent(DefaultModelService s) =>
        s.Requests.Activations(s.AutoencoderNodeType, layer: s.AutoencoderLayer).With("autoencoder", s.Autoencoder);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["residual with zero tokens"] = new("/v1/activations", s => s.Requests.Activations(tokens: 0), HttpStatusCode.UnprocessableEntity,
            "residual.shape", s => [$"[0, {s.DModel}]"]),
        ["forward pass with zero tokens"] = new("/v1/forward", _ => new JsonObject { ["tokens"] = new JsonArray() }, HttpStatusCode.UnprocessableEntity,
            "tokens", _ => ["got 0"]),
        ["more tokens than the context window"] = new("/v1/activations", s => s.Requests.Activations("attention_head", tokens: s.NCtx + 1),
            HttpStatusCode.UnprocessableEntity, "residual.shape", s => [$"n_ctx ({s.NCtx})", $"[{s.NCtx + 1}, {s.DModel}]"]),
        ["forward pass longer than the context window"] = new("/v1/forward",
            s => new JsonObject { ["tokens"] = new JsonArray(Enumerable.Repeat<JsonNode?>(1, s.NCtx + 1).Select(n => n!.DeepClone()).ToArray()) },
            HttpStatusCode.UnprocessableEntity, "tokens", s => [$"got {s.NCtx + 1}"]),
        ["NaN and Infinity in the residual"] = new("/v1/activations",
            s => s.Requests.Activations(values: With(3 * s.DModel, (s.DModel + 2, float.NaN), (2 * s.DModel, float.PositiveInfinity))),
            HttpStatusCode.UnprocessableEntity, "residual.data", _ => ["2 NaN or infinite", "[1, 2]"]),
        ["infinite write vector"] = new("/v1/jvp",
            s => s.Requests.Jvp().With("writeVector", s.Requests.Residual(3, With(3 * s.DModel, (0, float.NegativeInfinity)))),
            HttpStatusCode.UnprocessableEntity, "writeVector.data", _ => ["1 NaN or infinite", "[0, 0]"]),
        ["layer past the last"] = new("/v1/activations", s => s.Requests.Activations(layer: s.NLayers), HttpStatusCode.UnprocessableEntity,
            "layerIndex", s => [$"({s.NLayers})"]),
        ["negative layer"] = new("/v1/resid-deltas/attn", s => s.Requests.Block(layer: -1), HttpStatusCode.UnprocessableEntity, "layerIndex", _ => ["got -1"]),
        ["tensor index past the activation"] = new("/v1/gradients", s => s.Requests.Gradients(3, 0), HttpStatusCode.UnprocessableEntity,
            "tensorIndices[0]", _ => ["got 3"]),
        ["wrong number of tensor indices"] = new("/v1/gradients", s => s.Requests.Gradients(0), HttpStatusCode.UnprocessableEntity,
            "tensorIndices", _ => ["expected 2 indices"]),
        ["gradient at a masked attention score"] = new("/v1/gradients", // query 0, key 2: the key comes after the query
            s => s.Requests.Activations("attention_head", "pre").With("tensorIndices", new JsonArray(0, 2, 0)),
            HttpStatusCode.UnprocessableEntity, "tensorIndices", _ => ["masked"]),
        ["attention head without a trace type"] = new("/v1/activations", s => s.Requests.Activations("attention_head").With("attentionTraceType", null),
            HttpStatusCode.UnprocessableEntity, "attentionTraceType", _ => ["'QK', 'Q' or 'K'"]),
        ["trace type on an MLP neuron"] = new("/v1/activations", s => s.Requests.Activations().With("attentionTraceType", "Q"),
            HttpStatusCode.UnprocessableEntity, "attentionTraceType", _ => ["mlp_neuron"]),
        ["unknown autoencoder in the body"] = new("/v1/activations", s => Latent(s).With("autoencoder", "no-such-autoencoder"),
            HttpStatusCode.UnprocessableEntity, "autoencoder", s => [s.Autoencoder]),
        ["unknown autoencoder in the path"] = new("/v1/autoencoders/nope/latent-gradient", _ => RequestBuilder.Encode(4).With("latentIndex", 0),
            HttpStatusCode.UnprocessableEntity, "name", _ => ["'nope'"]),
        ["latent slice past the latents"] = new("/v1/activations", s => Latent(s).With("latentSlice", new JsonObject { ["start"] = 0, ["stop"] = 1_000_000 }),
            HttpStatusCode.UnprocessableEntity, "latentSlice", _ => ["n_latents", "stop 1000000"]),
        ["empty latent slice"] = new("/v1/activations", s => Latent(s).With("latentSlice", new JsonObject { ["start"] = 5, ["stop"] = 5 }),
            HttpStatusCode.UnprocessableEntity, "latentSlice", _ => []),
        ["backward pass type"] = new("/v1/jvp", s => s.Requests.Jvp().With("passType", "backward"), HttpStatusCode.UnprocessableEntity,
            "passType", _ => ["forward"]),
        ["unknown node type"] = new("/v1/gradients", s => s.Requests.Gradients(0, 0).With("nodeType", "residual_stream"), HttpStatusCode.BadRequest,
            "nodeType", _ => ["attention_head", "mlp_neuron", "autoencoder_latent", "mlp_autoencoder_latent", "attention_autoencoder_latent"]),
    };

    public static TheoryData<string> Names() => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(Names))]
    public async Task EachValidationClassIsAProblemSayingWhatWasExpected(string name)
    {
        var c = Cases[name];
        using var response = await service.Client.PostJsonAsync(c.Path, c.Body(service));
        var detail = (await response.AssertProblemAsync(c.Status, c.Field)).GetProperty("detail").GetString()!;
        foreach (var said in c.Says(service)) Assert.Contains(said, detail);
    }
}
