using System.Text.Json.Nodes;

namespace ReconService.Api.Tests.Infrastructure;

/// <summary>
/// The one service fixture of the API tests: the service on the repository's own embedded model (<c>models/</c>),
/// started once for every test class of the <see cref="DefaultModel"/> collection (or per class, with other settings), with the model's sizes read from
/// <c>GET /v1/model</c> and a request builder over them.
/// </summary>
public class DefaultModelService : IAsyncLifetime
{
    /// <summary>The service with its default configuration.</summary>
    public DefaultModelService() : this(new Dictionary<string, string?>()) { }

    /// <summary>The service on the embedded model, with <paramref name="settings"/> over its configuration.</summary>
    protected DefaultModelService(IReadOnlyDictionary<string, string?> settings) => Factory = new(settings);

    /// <summary>A service with <paramref name="settings"/>, for a test that starts its own.</summary>
    public static DefaultModelService With(IReadOnlyDictionary<string, string?> settings) => new Configured(settings);

    private sealed class Configured(IReadOnlyDictionary<string, string?> settings) : DefaultModelService(settings);

    public ServiceFactory Factory { get; }
    public HttpClient Client { get; private set; } = null!;
    public int DModel { get; private set; }
    public int DFf { get; private set; }
    public int NHeads { get; private set; }
    public int NCtx { get; private set; }
    public int NLayers { get; private set; }
    public string Autoencoder { get; private set; } = "";
    public string AutoencoderNodeType { get; private set; } = "";
    public int AutoencoderLayer { get; private set; }
    public int AutoencoderLatents { get; private set; }

    /// <summary>Request bodies sized for this model.</summary>
    public RequestBuilder Requests => new(DModel);

    public async Task InitializeAsync()
    {
        Client = await Factory.ReadyClientAsync();
        var model = await (await Client.GetAsync("/v1/model")).OkJsonAsync();
        var config = model.GetProperty("config");
        DModel = config.GetProperty("dModel").GetInt32();
        DFf = config.GetProperty("dFf").GetInt32();
        NHeads = config.GetProperty("nHeads").GetInt32();
        NCtx = config.GetProperty("nCtx").GetInt32();
        NLayers = config.GetProperty("nLayers").GetInt32();
        var autoencoder = model.GetProperty("autoencoders")[0];
        Autoencoder = autoencoder.GetProperty("name").GetString()!;
        AutoencoderNodeType = autoencoder.GetProperty("nodeType").GetString()!;
        AutoencoderLayer = autoencoder.GetProperty("layers")[0].GetInt32();
        AutoencoderLatents = autoencoder.GetProperty("nLatents").GetInt32();
    }

    public Task DisposeAsync()
    {
        Factory.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>Test classes sharing one <see cref="DefaultModelService"/>.</summary>
[CollectionDefinition(Name)]
public sealed class DefaultModel : ICollectionFixture<DefaultModelService>
{
    public const string Name = "default model";
}

/// <summary>The one request builder: bodies of every endpoint for a model of width <paramref name="DModel"/>, zeros unless given values.</summary>
public readonly record struct RequestBuilder(int DModel)
{
    /// <summary>A residual <c>[tokens, d_model]</c>.</summary>
    public JsonObject Residual(int tokens = 3, float[]? values = null) => Wire.Tensor([tokens, DModel], values ?? new float[tokens * DModel]);

    /// <summary><c>/v1/activations</c> (and, with more fields, gradients and JVPs) for a node type.</summary>
    public JsonObject Activations(string nodeType = "mlp_neuron", string preOrPost = "post", int tokens = 3, int layer = 0, float[]? values = null)
    {
        var body = new JsonObject
        {
            ["residual"] = Residual(tokens, values), ["layerIndex"] = layer, ["nodeType"] = nodeType, ["preOrPostAct"] = preOrPost,
        };
        if (nodeType == "attention_head") body["attentionTraceType"] = "QK";
        return body;
    }

    /// <summary><c>/v1/gradients</c> at <paramref name="indices"/>.</summary>
    public JsonObject Gradients(params long[] indices) => Activations().With("tensorIndices", new JsonArray(indices.Select(i => (JsonNode)i).ToArray()));

    /// <summary><c>/v1/jvp</c> along a zero write vector.</summary>
    public JsonObject Jvp(int tokens = 3) => Activations(tokens: tokens).With("writeVector", Residual(tokens));

    /// <summary><c>/v1/resid-deltas/*</c> and <c>/v1/attention-values</c>.</summary>
    public JsonObject Block(int tokens = 3, int layer = 0, float[]? values = null) => new() { ["residual"] = Residual(tokens, values), ["layerIndex"] = layer };

    /// <summary><c>/v1/logits</c> and <c>/v1/logprobs</c>.</summary>
    public JsonObject Final(int tokens = 3, float[]? values = null) => new() { ["residual"] = Residual(tokens, values) };

    /// <summary><c>/v1/autoencoders/{name}/encode</c> (and latent-gradient with <c>latentIndex</c>) over inputs of width <paramref name="width"/>.</summary>
    public static JsonObject Encode(int width, int tokens = 3, int layer = 0) =>
        new() { ["activations"] = Wire.Tensor([tokens, width], new float[tokens * width]), ["layerIndex"] = layer };
}

/// <summary>One-line request variants.</summary>
public static class JsonObjectExtensions
{
    /// <summary>Sets <paramref name="name"/> (null removes it) and returns the object.</summary>
    public static JsonObject With(this JsonObject body, string name, JsonNode? value)
    {
        if (value is null) body.Remove(name);
        else body[name] = value;
        return body;
    }

    /// <summary>Applies <paramref name="change"/> and returns the object.</summary>
    public static JsonObject Also(this JsonObject body, Action<JsonObject> change)
    {
        change(body);
        return body;
    }
}
