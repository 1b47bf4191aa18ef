using System.Net;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Http;

/// <summary>Each error class of the contract: status, application/problem+json, and a detail naming the field.</summary>
public sealed class ErrorContractTests(ErrorContractTests.Service service) : IClassFixture<ErrorContractTests.Service>
{
    public sealed class Service : IAsyncLifetime
    {
        public DefaultModelFactory Factory { get; } = new();
        public HttpClient Client { get; private set; } = null!;
        public int DModel { get; private set; }
        public int NCtx { get; private set; }
        public int NLayers { get; private set; }
        public async Task InitializeAsync()
        {
            Client = await Factory.ReadyClientAsync();
            var model = await (await Client.GetAsync("/v1/model")).OkJsonAsync();
            var config = model.GetProperty("config");
            DModel = config.GetProperty("dModel").GetInt32();
            NCtx = config.GetProperty("nCtx").GetInt32();
            NLayers = config.GetProperty("nLayers").GetInt32();
        }
        public Task DisposeAsync()
        {
            Factory.Dispose();
            return Task.CompletedTask;
        }
    }

    private JsonObject MlpRequest(int tokens = 3, int? width = null) => new()
    {
        ["residual"] = Wire.Tensor([tokens, width ?? service.DModel], new float[tokens * (width ?? service.DModel)]),
        ["layerIndex"] = 0,
        ["nodeType"] = "mlp_neuron",
        ["preOrPostAct"] = "post",
    };

    [Fact]
    public async Task TruncatedJsonIsA400NamingWhereItBroke()
    {
        using var response = await service.Client.PostRawAsync("/v1/activations", "{\"layerIndex\": 0, \"residual\": {\"dtype\": ");
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "residual");
    }

    [Fact]
    public async Task InvalidBase64IsA400NamingTheDataField()
    {
        var body = MlpRequest();
        body["residual"]!["data"] = "this is not base64!";
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "residual.data");
    }

    [Fact]
    public async Task AMissingRequiredFieldIsA400NamingIt()
    {
        var body = MlpRequest();
        body.Remove("layerIndex");
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "layerIndex");
    }

    [Fact]
    public async Task AnUnknownNodeTypeIsA400NamingTheField()
    {
        var body = MlpRequest();
        body["nodeType"] = "neuron";
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "nodeType");
        Assert.Contains("mlp_neuron", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ActivationsRejectsResidualWithWrongWidth()
    {
        using var response = await service.Client.PostJsonAsync("/v1/activations", MlpRequest(width: service.DModel + 1));
        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "residual.shape");
        Assert.Contains(service.DModel.ToString(), problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ALayerOutOfRangeIsA422NamingLayerIndex()
    {
        var body = MlpRequest();
        body["layerIndex"] = 1000;
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "layerIndex");
    }

    [Fact]
    public async Task TheBackwardPassIsA422NamingPassType()
    {
        var body = MlpRequest();
        body["passType"] = "backward";
        using var response = await service.Client.PostJsonAsync("/v1/activations", body);
        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "passType");
    }

    [Fact]
    public async Task AnUnknownAutoencoderInThePathIsA422NamingIt()
    {
        var body = new JsonObject { ["activations"] = Wire.Tensor([1, 4], new float[4]), ["layerIndex"] = 0 };
        using var response = await service.Client.PostJsonAsync("/v1/autoencoders/no-such-autoencoder/encode", body);
        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "name");
    }

    [Fact]
    public async Task AJvpWriteVectorOfAnotherShapeIsA422NamingIt()
    {
        var body = MlpRequest();
        body["writeVector"] = Wire.Tensor([2, service.DModel], new float[2 * service.DModel]);
        using var response = await service.Client.PostJsonAsync("/v1/jvp", body);
        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "writeVector.shape");
    }

    [Fact]
    public async Task AnUnknownCaptureLocationIsA422NamingCapture()
    {
        var body = new JsonObject { ["prompt"] = "And God said", ["capture"] = new JsonArray("resid.nowhere") };
        using var response = await service.Client.PostJsonAsync("/v1/forward", body);
        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "capture");
    }

    [Fact]
    public async Task TheServiceStillAnswersAfterBadRequests()
    {
        using (await service.Client.PostRawAsync("/v1/activations", "][")) { }
        using var response = await service.Client.PostJsonAsync("/v1/activations", MlpRequest());
        var json = await response.OkJsonAsync();
        var (shape, _) = Wire.ReadTensor(json.GetProperty("activations"));
        Assert.Equal(3, shape[0]);
    }
}
