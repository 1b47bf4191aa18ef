using ReconService.Api.Autoencoders;
using ReconService.Api.Caching;
using ReconService.Api.Forward;
using ReconService.Api.Health;
using ReconService.Api.Hosting;
using ReconService.Api.Logging;
using ReconService.Api.ModelInfo;
using ReconService.Api.OpenApi;
using ReconService.Api.Reconstitution;
using ReconService.Api.Tokenization;

var builder = WebApplication.CreateBuilder(args);
builder.AddReconLogging();
builder.Services.AddReconHttp();
builder.Services.AddReconEngine();
builder.Services.AddReconCache();
builder.Services.AddReconRequestQueue();
builder.Services.AddReconHealth();
builder.Services.AddReconSwagger();

var app = builder.Build();
app.UseReconRequestLogging();
app.UseReconHttp();
app.UseReconSwagger();

app.MapHealth();
app.MapModelInfo();
app.MapReconstitution();
app.MapAutoencoders();
app.MapForward();
app.MapTokenize();

app.Run();
