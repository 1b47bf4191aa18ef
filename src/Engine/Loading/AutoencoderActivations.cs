using ReconService.Models;

namespace ReconService.Engine.Loading;

/// <summary>Activation names as TDB's <c>ACTIVATIONS_CLASSES</c> spells them (<c>ReLU</c>, <c>Identity</c>, <c>TopK</c>).</summary>
internal static class AutoencoderActivations
{
    /// <summary>The activation TDB's class name <paramref name="name"/> stands for, or null if it names none.</summary>
    public static AutoencoderActivation? TryParse(string? name) => name switch
    {
        "ReLU" => AutoencoderActivation.ReLU,
        "Identity" => AutoencoderActivation.Identity,
        "TopK" => AutoencoderActivation.TopK,
        _ => null,
    };
}
