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
    /// <summary>One case; <paramref name="Latin1"/> sends each char of the body as one byte (to send bytes that are not UTF-8).</summary>
    private sealed record Case(string Path, Func<DefaultModelService, string> Body, HttpStatusCode Status, string Field, string? Says = null,
        string? Accept = null, bool Latin1 = false);

    private static string Json(JsonNode node) => node.ToJsonString();

    /// <summary>The request with <paramref name="member"/> (raw JSON, e.g. a duplicate key) written first.</summary>
    private static string First(string member, JsonNode node) => "{" + member + "," + node.ToJsonString()[1..];

    /// <summary>A <c>/v1/logits</c> request whose residual is <paramref name="data"/> as lists, said to be of <paramref name="shape"/>.</summary>
    private static string ListResidual(long[] shape, JsonNode data) =>
        Json(new JsonObject { ["residual"] = new JsonObject { ["dtype"] = "float32", ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()), ["data"] = data } });

    /// <summary>Rows of 0.1 of the given lengths.</summary>
    private static JsonArray Rows(params int[] lengths) =>
        new(lengths.Select(n => (JsonNode)new JsonArray(Enumerable.Range(0, n).Select(_ => (JsonNode)0.1f).ToArray())).ToArray());

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
        ["duplicate field"] = new("/v1/activations", s => First("\"layerIndex\": 3", s.Requests.Activations()), HttpStatusCode.BadRequest, "layerIndex", "twice"),
        ["duplicate field in a tensor"] = new("/v1/logits", s => Json(s.Requests.Final()).Replace("\"residual\":{", "\"residual\":{\"dtype\":\"float16\","),
            HttpStatusCode.BadRequest, "residual.dtype", "twice"),
        ["duplicate field in latentSlice"] = new("/v1/activations",
            s => Json(s.Requests.Activations("mlp_autoencoder_latent").With("latentSlice", new JsonObject { ["start"] = 0, ["stop"] = 4 })).Replace("\"start\":0", "\"start\":0,\"start\":1"),
            HttpStatusCode.BadRequest, "latentSlice.start", "twice"),
        ["field in PascalCase"] = new("/v1/activations", s => Json(s.Requests.Activations().Also(b => { b.Remove("layerIndex"); b["LayerIndex"] = 0; })),
            HttpStatusCode.BadRequest, "LayerIndex", "did you mean layerIndex?"),
        ["field in capitals"] = new("/v1/activations", s => Json(s.Requests.Activations().Also(b => { b.Remove("preOrPostAct"); b["PREORPOSTACT"] = "post"; })),
            HttpStatusCode.BadRequest, "PREORPOSTACT", "did you mean preOrPostAct?"),
        ["field in capitals beside the field"] = new("/v1/activations", s => Json(s.Requests.Activations().With("NODETYPE", "attention_head")),
            HttpStatusCode.BadRequest, "NODETYPE", "did you mean nodeType?"),
        ["field in lower case"] = new("/v1/gradients", s => Json(s.Requests.Gradients(0, 0).With("detachlayernormscale", false)),
            HttpStatusCode.BadRequest, "detachlayernormscale", "did you mean detachLayerNormScale?"),
        ["tensor field in capitals"] = new("/v1/logits", s => Json(s.Requests.Final()).Replace("\"dtype\":", "\"DTYPE\":"),
            HttpStatusCode.BadRequest, "residual.DTYPE", "unknown field"),
        ["list rows of two lengths"] = new("/v1/logits", s => ListResidual([2, s.DModel], Rows(s.DModel / 2, s.DModel * 3 / 2)),
            HttpStatusCode.BadRequest, "residual.data", "data[0] holds"),
        ["list of rows too short"] = new("/v1/logits", s => ListResidual([2, s.DModel], Rows(Enumerable.Repeat(2, s.DModel).ToArray())),
            HttpStatusCode.BadRequest, "residual.data", "data[0] holds 2 entries"),
        ["list nested too deep"] = new("/v1/logits", s => ListResidual([1, s.DModel], new JsonArray(Rows(s.DModel))),
            HttpStatusCode.BadRequest, "residual.data", "data[0][0] is a list where a number belongs"),
        ["flat list for two axes"] = new("/v1/logits", s => ListResidual([1, s.DModel], Rows(s.DModel)[0]!.DeepClone()),
            HttpStatusCode.BadRequest, "residual.data", "data[0] is a number where a list of"),
        ["layer index past int32"] = new("/v1/activations", s => Json(s.Requests.Activations()).Replace("\"layerIndex\":0", "\"layerIndex\":1e20"),
            HttpStatusCode.BadRequest, "layerIndex", "int32 range"),
        ["top-k past int32"] = new("/v1/logits", s => Json(s.Requests.Final().With("output", new JsonObject { ["topK"] = 2147483648L })),
            HttpStatusCode.BadRequest, "output.topK", "int32 range"),
        ["prompt that is not UTF-8"] = new("/v1/forward", _ => "{\"prompt\": \"And \u00ff\u00fe\"}", HttpStatusCode.BadRequest, "prompt", "not valid UTF-8", Latin1: true),
        ["text with an unpaired surrogate"] = new("/v1/tokenize", _ => "{\"text\": \"And \\ud800 God\"}", HttpStatusCode.BadRequest, "text", "unpaired surrogate"),
        ["prompt with an unpaired surrogate"] = new("/v1/forward", _ => "{\"prompt\": \"\\udc00\"}", HttpStatusCode.BadRequest, "prompt", "unpaired surrogate"),
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
        if (c.Latin1)
        {
            request.Content = new ByteArrayContent(System.Text.Encoding.Latin1.GetBytes(c.Body(service)));
            request.Content.Headers.ContentType = new("application/json");
        }
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
