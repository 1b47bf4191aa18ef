namespace ReconService.Models.Tensors.Safetensors;

/// <summary>The media type of safetensors bodies, requests and answers alike.</summary>
public static class SafetensorsMediaType
{
    /// <summary><c>application/x-safetensors</c>.</summary>
    public const string Name = "application/x-safetensors";

    /// <summary>
    /// The <c>__metadata__</c> key of an answer's other fields, JSON text with <c>{"tensor": "&lt;name&gt;"}</c> in
    /// each tensor's place.
    /// </summary>
    public const string AnswerJsonKey = "json";

    /// <summary>The <c>__metadata__</c> key of a request's other fields, JSON text.</summary>
    public const string RequestJsonKey = "request";
}
