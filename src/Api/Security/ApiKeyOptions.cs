namespace ReconService.Api.Security;

/// <summary><c>ApiKeys</c>: optional access keys. Empty means the service is open.</summary>
public sealed class ApiKeyOptions
{
    public const string Section = "ApiKeys";

    /// <summary>Request header that carries the key.</summary>
    public const string Header = "X-API-Key";

    /// <summary>Accepted keys; when any is configured, every <c>/v1</c> endpoint requires one (health, viewer and Swagger stay open).</summary>
    public string[] Keys { get; set; } = [];
}
