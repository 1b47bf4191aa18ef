namespace ReconService.Api.Configuration;

/// <summary><c>Model</c>: the transformer to serve.</summary>
public sealed class ModelOptions
{
    public const string Section = "Model";

    /// <summary>A Hugging Face GPT-2 folder or a TDB checkpoint folder; empty serves the embedded default model.</summary>
    public string? Path { get; set; }
}

/// <summary><c>Engine</c>: where the engine runs.</summary>
public sealed class EngineHostOptions
{
    public const string Section = "Engine";

    /// <summary><c>cpu</c>, <c>cuda</c> or <c>auto</c>.</summary>
    [System.ComponentModel.DataAnnotations.RegularExpression("^(cpu|cuda|auto)$", ErrorMessage = "Engine:Device must be cpu, cuda or auto")]
    public string Device { get; set; } = "cpu";

    /// <summary>
    /// Keep native memory that libtorch frees in the C heap for the next request (default true; see
    /// <see cref="ReconService.Engine.Hosting.NativeAllocator"/>): large tensors reuse mapped pages instead of paying a page
    /// fault per 4 KiB page, and resident memory stays at its high-water mark. False leaves glibc's defaults (blocks over
    /// 32 MiB are mapped per allocation and returned when freed), so resident memory follows the memory budget
    /// (<c>Limits:MaxEngineMemoryBytes</c>) more closely, at the cost of that page-fault time.
    /// </summary>
    public bool RetainFreedMemory { get; set; } = true;
}

/// <summary><c>Autoencoders:&lt;name&gt;</c>: one autoencoder family, named as requests name it.</summary>
public sealed class AutoencoderEntryOptions
{
    /// <summary>Folder of per-layer autoencoders (OpenAI/TDB <c>&lt;layer&gt;.pt</c> files or SAELens sub-folders).</summary>
    public string? Path { get; set; }

    /// <summary>
    /// <c>mlp.post_act</c>, <c>resid.delta_mlp</c>, <c>resid.delta_attn</c> (release spellings with underscores too), <c>resid.pre</c>,
    /// <c>resid.post_attn</c>, <c>resid.post_mlp</c> or <c>ln_2.normalized</c>; needed when the layout doesn't say.
    /// </summary>
    public string? InputType { get; set; }

    /// <summary>
    /// Overrides SAELens's <c>model_from_pretrained_kwargs.center_writing_weights</c>: true when the autoencoders were trained on a
    /// TransformerLens model with centred writing weights but their <c>cfg.json</c> does not say so (e.g. gpt2-small-res-jb).
    /// </summary>
    public bool? CenterWritingWeights { get; set; }
}

/// <summary><c>Autoencoders</c>: autoencoder families by name.</summary>
public sealed class AutoencodersOptions : Dictionary<string, AutoencoderEntryOptions>
{
    public const string Section = "Autoencoders";

    public AutoencodersOptions() : base(StringComparer.Ordinal) { }
}

/// <summary><c>Cache</c>: the response cache for reconstitution requests.</summary>
public sealed class CacheOptions
{
    public const string Section = "Cache";

    /// <summary>Whether identical requests are answered from the cache.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Bound on the cached responses' tensor bytes (default 64 MiB). The cache grows to this bound and stays there;
    /// the process's memory then includes it plus per-entry overhead (about 1.5–2× in the load test).
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1L, long.MaxValue)]
    public long SizeLimitBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Redis connection string (StackExchange.Redis syntax, e.g. <c>redis:6379</c>): the cache's shared second level, so a
    /// request answered by one replica is a hit on another. Empty (the default): in-process only. Timeouts default to 1 s
    /// (connect) and 2 s (operations); Redis down never fails a request (<c>Caching/SharedAnswerStore.cs</c>).
    /// </summary>
    public string? Redis { get; set; }
}

/// <summary><c>Cors</c>: origins allowed to call the service from a browser (e.g. a viewer page on localhost).</summary>
public sealed class CorsOptions
{
    public const string Section = "Cors";

    /// <summary>Allowed origins, e.g. <c>http://localhost:8000</c>.</summary>
    public string[] Origins { get; set; } = [];
}

/// <summary><c>Limits</c>: request limits.</summary>
public sealed class LimitsOptions
{
    public const string Section = "Limits";

    /// <summary>Largest request body accepted (413 beyond). Base64 JSON is about 1.33 times the raw tensor bytes.</summary>
    [System.ComponentModel.DataAnnotations.Range(1024L, long.MaxValue)]
    public long MaxRequestBodyBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Longest <c>prompt</c> or <c>text</c> accepted, in characters.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int MaxPromptChars { get; set; } = 100_000;

    /// <summary>Largest tokens × batch in one request tensor (residual, write vector, activations); beyond it 422.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int MaxTokensPerRequest { get; set; } = 16_384;

    /// <summary>
    /// Most values one answer may hold (all its tensors, after any output reduction), known from the engine's plan
    /// before any work; beyond it 422. The default, 2^26 = 67,108,864 values (256 MiB of float32, about 342 MiB as
    /// base64 JSON), admits every endpoint at a full 1,024-token context of a GPT-2-vocabulary model: logits and
    /// logprobs are 1,024 × 50,257 ≈ 51.5M values, the largest of them; latents of autoencoders up to 65,536 wide
    /// (1,024 × 32,768 ≈ 33.6M); a forward pass capturing every residual and MLP activation of GPT-2 small ≈ 57.4M.
    /// A 131,072-latent family at 1,024 tokens (134M) needs an output reduction (top-k) or a higher limit.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, long.MaxValue)]
    public long MaxResponseElements { get; set; } = 1L << 26;

    /// <summary>
    /// Bound on the summed working-memory estimates (the engine's plans) of the requests running at once, in bytes.
    /// A request whose own estimate is larger is refused (422); others wait in the queue until it fits. 0 (the default)
    /// means half of the memory available to the process (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>: the
    /// machine's memory, or the container's limit).
    /// Every endpoint at a full 1,024-token context of GPT-2 small with 32,768-latent autoencoders is estimated at most
    /// 1.8 GiB (a latent's gradient), so the default admits them all on any host or container with 4 GiB or more.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(0, long.MaxValue)]
    public long MaxEngineMemoryBytes { get; set; }

    /// <summary><see cref="MaxEngineMemoryBytes"/> with the default applied.</summary>
    public long EngineMemoryBudgetBytes => MaxEngineMemoryBytes > 0 ? MaxEngineMemoryBytes : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;
}
