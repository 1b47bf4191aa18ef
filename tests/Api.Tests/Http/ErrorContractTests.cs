using System.Net;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>
/// The error contract as a table: each case's status, application/problem+json, and a detail naming the field,
/// including the pipeline's new refusals (unknown fields, results that overflow float32).
/// </summary>
[Collection(DefaultModel.Name)]
public sealed class ErrorContractTests(DefaultModelService service)
{
    private sealed record Case(string Path, Func<DefaultModelService, string> Body, HttpStatusCode Status, string Field, string? Says = null,
        string? Accept = null);

    private static string Json(JsonNode node) => node.ToJsonString();

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["truncated JSON"] = new("/v1/activations", _ => "{\"layerIndex\": 0, \"residual\": {\"dtype\": ", HttpStatusCode.BadRequest, "residual"),
        ["invalid base64"] = new("/v1/activations", s => Json(s.Requests.Activations().Also(b => b["residual"]!["data"] = "this is not base64!")),
            HttpStatusCode.BadRequest, "residual.data"),
        ["missing required field"] = new("/v1/activations", s => Json(s.Requests.Activations().With("layerIndex", null)), HttpStatusCode.BadRequest, "layerIndex"),
        ["unknown node type"] = new("/v1/activations", s => Json(s.Requests.Activations("neuron")), HttpStatusCode.BadRequest, "nodeType", "mlp_neuron"),
        ["unknown field"] = new("/v1/gradients", s => Json(s.Requests.Gradients(0, 0).With("detachLNScale", false)),
            HttpStatusCode.BadRequest, "detachLNScale", "unknown field"),
        ["unknown field in a tensor"] = new("/v1/logits", s => Json(s.Requests.Final().Also(b => b["residual"]!["order"] = "C")),
            HttpStatusCode.BadRequest, "residual.order", "unknown field"),
        ["unknown field in latentSlice"] = new("/v1/activations",
            s => Json(s.Requests.Activations("mlp_autoencoder_latent").With("latentSlice", new JsonObject { ["start"] = 0, ["stop"] = 4, ["step"] = 2 })),
            HttpStatusCode.BadRequest, "latentSlice.step", "unknown field"),
        ["field of another endpoint"] = new("/v1/resid-deltas/attn", s => Json(s.Requests.Block().With("nodeType", "mlp_neuron")),
            HttpStatusCode.BadRequest, "nodeType", "unknown field"),
        ["residual of the wrong width"] = new("/v1/activations",
            s => Json(s.Requests.Activations().With("residual", Wire.Tensor([3, s.DModel + 1], new float[3 * (s.DModel + 1)]))),
            HttpStatusCode.UnprocessableEntity, "residual.shape"),
        ["layer out of range"] = new("/v1/activations", s => Json(s.Requests.Activations(layer: 1000)), HttpStatusCode.UnprocessableEntity, "layerIndex"),
        ["backward pass"] = new("/v1/activations", s => Json(s.Requests.Activations().With("passType", "backward")),
            HttpStatusCode.UnprocessableEntity, "passType"),
        ["unknown autoencoder in the path"] = new("/v1/autoencoders/no-such-autoencoder/encode", _ => Json(RequestBuilder.Encode(4)),
            HttpStatusCode.UnprocessableEntity, "name"),
        ["write vector of another shape"] = new("/v1/jvp", s => Json(s.Requests.Jvp().With("writeVector", s.Requests.Residual(2))),
            HttpStatusCode.UnprocessableEntity, "writeVector.shape"),
        ["unknown capture location"] = new("/v1/forward", _ => Json(new JsonObject { ["prompt"] = "And God said", ["capture"] = new JsonArray("resid.nowhere") }),
            HttpStatusCode.UnprocessableEntity, "capture"),
        ["layers with no per-layer capture"] = new("/v1/forward",
            _ => Json(new JsonObject { ["prompt"] = "a", ["capture"] = new JsonArray("logits"), ["layers"] = new JsonArray(2) }),
            HttpStatusCode.UnprocessableEntity, "layers", "has none"),
        ["logits that overflow float32"] = new("/v1/logits", s => Json(s.Requests.Final(values: Enumerable.Repeat(3e38f, 3 * s.DModel).ToArray())),
            HttpStatusCode.UnprocessableEntity, "logits", "overflowed float32"),
        ["MLP activations that overflow float32"] = new("/v1/activations",
            s => Json(s.Requests.Activations(values: Enumerable.Repeat(3e38f, 3 * s.DModel).ToArray())),
            HttpStatusCode.UnprocessableEntity, "activations", "overflowed float32"),
        ["prompt and tokens together"] = new("/v1/forward", _ => "{\"prompt\": \"In\", \"tokens\": [1]}", HttpStatusCode.BadRequest, "prompt"),
        ["an Accept the service cannot write"] = new("/v1/logits", s => Json(s.Requests.Final()), HttpStatusCode.NotAcceptable, "Accept",
            Accept: "text/csv, application/problem+json;q=0.1"),
        ["an Accept that is not a media type"] = new("/v1/logits", s => Json(s.Requests.Final()), HttpStatusCode.NotAcceptable, "Accept",
            "is not a media type", Accept: "@@@"),
    };

    public static TheoryData<string> Names() => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(Names))]
    public async Task EachErrorIsAProblemNamingTheField(string name)
    {
        var c = Cases[name];
        using var request = new HttpRequestMessage(HttpMethod.Post, c.Path)
        {
            Content = new StringContent(c.Body(service), System.Text.Encoding.UTF8, "application/json"),
        };
        if (c.Accept is not null) request.Headers.TryAddWithoutValidation("Accept", c.Accept);
        using var response = await service.Client.SendAsync(request);
        var problem = await response.AssertProblemAsync(c.Status, c.Field);
        Assert.Equal(c.Field, problem.GetProperty("field").GetString());
        if (c.Says is not null) Assert.Contains(c.Says, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task MaskedAttentionScoresAreMinusInfinityNotAnOverflow()
    {
        using var response = await service.Client.PostJsonAsync("/v1/activations", service.Requests.Activations("attention_head", "pre").With("outputEncoding", "list"));
        var (_, values) = Wire.ReadTensor((await response.OkJsonAsync()).GetProperty("activations"));
        Assert.Contains(float.NegativeInfinity, values);
    }

    [Fact]
    public async Task TheServiceStillAnswersAfterBadRequests()
    {
        using (await service.Client.PostRawAsync("/v1/activations", "][")) { }
        using var response = await service.Client.PostJsonAsync("/v1/activations", service.Requests.Activations());
        var (shape, _) = Wire.ReadTensor((await response.OkJsonAsync()).GetProperty("activations"));
        Assert.Equal(3, shape[0]);
    }
}
