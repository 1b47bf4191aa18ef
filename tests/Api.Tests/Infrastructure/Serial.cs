namespace ReconService.Api.Tests.Infrastructure;

/// <summary>Tests that read process-wide counters (live tensors) run in this collection, alone, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Serial
{
    public const string Name = "serial";
}
