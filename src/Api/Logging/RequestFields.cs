namespace ReconService.Api.Logging;

/// <summary>Names of the structured fields added to the request-completed log event.</summary>
public static class RequestFields
{
    public const string Endpoint = "Endpoint";
    public const string Tokens = "Tokens";
    public const string Layer = "Layer";
    public const string NodeType = "NodeType";
    public const string Autoencoder = "Autoencoder";
    public const string CacheHit = "CacheHit";
}
