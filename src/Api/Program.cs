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

app.Run();
