using System.Net;
using System.Text.Json.Nodes;
using ReconService.Api.Tests.Infrastructure;

namespace ReconService.Api.Tests.Limits;

/// <summary>The intra-op count Queue:IntraOpThreads chooses is the one the engine call runs with, whatever thread it lands on.</summary>
public sealed class IntraOpThreadsHttpTests
{
    private static JsonObject Body() => new()
    {
        ["residual"] = Wire.Tensor([2, 8], new float[16]), ["layerIndex"] = 0, ["nodeType"] = "mlp_neuron", ["preOrPostAct"] = "post",
    };

    [Theory]
    [InlineData("3")]
    [InlineData("1")]
    [InlineData("0")]
    public async Task TheEngineCallRunsWithTheRequestsCount(string setting)
    {
        using var factory = new BlockingEngineFactory(new() { ["Queue:IntraOpThreads"] = setting, ["Cache:Enabled"] = "false" });
        factory.Engine.Release.Set();
        var client = await factory.ReadyClientAsync();
        var expected = setting == "0" ? Environment.ProcessorCount : int.Parse(setting);
        // Many requests, one at a time (each alone in the queue), on whatever pool threads they land on.
        for (var i = 0; i < 40; i++)
        {
            using var response = await client.PostJsonAsync("/v1/activations", Body());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(expected, factory.Engine.ThreadsSeen);
        }
    }
}
