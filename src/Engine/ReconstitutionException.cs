namespace ReconService.Engine;

/// <summary>
/// A request the engine cannot serve as asked: a layer out of range, a wrong width, an unknown
/// autoencoder, the <c>backward</c> pass type. <see cref="Field"/> names the request field at
/// fault (camelCase, dotted for nested fields, e.g. <c>residual.shape</c>); the message says what
/// was expected and what was given. The HTTP layer maps it to 422.
/// </summary>
public class ReconstitutionException : ArgumentException
{
    /// <summary>Creates the error for one field.</summary>
    /// <param name="field">Request field at fault, e.g. <c>layerIndex</c>.</param>
    /// <param name="message">What was expected and what was given.</param>
    public ReconstitutionException(string field, string message) : base(message) => Field = field;

    /// <summary>The request field at fault, e.g. <c>residual.shape</c>.</summary>
    public string Field { get; }
}

/// <summary>
/// Weights that cannot be loaded: a missing file, a missing or unexpected tensor, a wrong shape,
/// an unsupported dtype, a truncated file, inconsistent layers. The message names the file and,
/// where one is involved, the tensor.
/// </summary>
public class WeightLoadException : Exception
{
    /// <summary>Creates the error.</summary>
    /// <param name="path">File or folder at fault.</param>
    /// <param name="message">What is wrong, naming the tensor where one is involved.</param>
    /// <param name="inner">Underlying error, if any.</param>
    public WeightLoadException(string path, string message, Exception? inner = null)
        : base($"{path}: {message}", inner) => Path = path;

    /// <summary>File or folder at fault.</summary>
    public string Path { get; }
}
