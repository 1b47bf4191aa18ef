using System.Reflection;
using ReconService.Engine;

namespace ReconService.Api.Hosting;

/// <summary>Loads the engine; replaced in tests.</summary>
public interface IEngineLoader
{
    /// <summary>Loads weights and autoencoders (slow; called once, off the request path).</summary>
    IReconstitutionEngine Load(EngineOptions options);
}

/// <summary>Loads <see cref="ReconstitutionEngine"/> through its <c>Load(EngineOptions)</c>.</summary>
public sealed class ReconstitutionEngineLoader : IEngineLoader
{
    // TODO(api): call ReconstitutionEngine.Load directly once it lands on main (the loaders are in flight);
    // until then the method is looked up so that this branch builds either way.
    private static readonly MethodInfo? LoadMethod =
        typeof(ReconstitutionEngine).GetMethod("Load", BindingFlags.Public | BindingFlags.Static, [typeof(EngineOptions)]);

    /// <inheritdoc />
    public IReconstitutionEngine Load(EngineOptions options)
    {
        if (LoadMethod is null) throw new NotSupportedException("ReconstitutionEngine.Load(EngineOptions) is not in this build of the engine yet");
        try
        {
            return (IReconstitutionEngine)LoadMethod.Invoke(null, [options])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}
