namespace ReconService.Api.Logging;

/// <summary>Source-generated log messages.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Loading model {ModelPath} with {AutoencoderCount} autoencoder families on {Device}")]
    public static partial void EngineLoading(this ILogger logger, string modelPath, int autoencoderCount, string device);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Model loaded: {NLayers} layers, d_model {DModel}, on {Device} in {ElapsedMs} ms")]
    public static partial void EngineLoaded(this ILogger logger, int nLayers, int dModel, string device, long elapsedMs);

    [LoggerMessage(EventId = 3, Level = LogLevel.Critical, Message = "Model failed to load; stopping")]
    public static partial void EngineLoadFailed(this ILogger logger, Exception error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "Unhandled error serving {Endpoint}")]
    public static partial void UnhandledError(this ILogger logger, string? endpoint, Exception error);

    [LoggerMessage(EventId = 5, Level = LogLevel.Debug, Message = "Response cache hit for {Endpoint}")]
    public static partial void CacheHit(this ILogger logger, string? endpoint);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Loading: {Notice}")]
    public static partial void LoadNotice(this ILogger logger, string notice);
}
