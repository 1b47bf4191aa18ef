var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();
app.UseViewer();
app.MapGet("/health/live", () => TypedResults.Ok("live"));
app.Run();
