namespace KvBlockPool.Tests.Lifecycle;

/// <summary>
/// Tests that measure process-wide figures (native bytes of all live pools, managed heap size) run alone, after
/// the parallel tests, so no other test's pools move the figures they compare.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeasurementCollection
{
    public const string Name = "Process-wide measurements";
}
