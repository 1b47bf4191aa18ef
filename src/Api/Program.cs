using Microsoft.Extensions.Options;
using ReconService.Api.Attribution;
using ReconService.Api.Autoencoders;
using ReconService.Api.Diagnostics;
using ReconService.Api.Forward;
using ReconService.Api.Health;
using ReconService.Api.Hosting;
using ReconService.Api.Limits;
using ReconService.Api.Logging;
using ReconService.Api.ModelInfo;
using ReconService.Api.OpenApi;
using ReconService.Api.Reconstitution;
using ReconService.Api.Tokenization;

var builder = WebApplication.CreateBuilder(args);
builder.AddReconLogging();
builder.Services.AddReconHttp();
builder.Services.AddReconEngine();
builder.Services.AddReconPipeline();
builder.Services.AddReconHealth();
builder.Services.AddReconSwagger();
builder.Services.AddReconTelemetry();
builder.Services.AddReconDrain();

var app = builder.Build();
app.UseReconRequestLogging();
app.UseReconHttp();
app.UseReconApiKeys();
app.UseReconSwagger();
app.UseViewer();

app.MapHealth();
app.MapModelInfo();
app.MapReconstitution();
app.MapAutoencoders();
app.MapForward();
app.MapAttribution();
app.MapMetrics();
app.MapPrometheus();
app.MapTokenize();

var testing = app.Environment.IsEnvironment("Testing"); // read now: the host's services are disposed once Run fails
try
{
    app.Run();
}
catch (Exception e) when (e is OptionsValidationException or IOException && !testing)
{
    // A refused configuration (an unknown key, a value out of range) or a port in use: one line naming the cause and
    // exit code 1, not an unhandled exception's abort (134). The tests' host (environment Testing) sees the exception.
    Console.Error.WriteLine($"Start-up refused: {(e is OptionsValidationException v ? string.Join("; ", v.Failures) : e.Message)}");
    return 1;
}
return 0;
