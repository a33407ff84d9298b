namespace KvBlockPool.Hosting.Tests.Shared;

/// <summary>
/// Tests that read process-wide figures (<see cref="BlockPool.LiveNativeBytes"/>) or redirect the console: run alone,
/// after the parallel tests, so no other test's pools or output move what they compare.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideCollection
{
    public const string Name = "Process-wide figures and the console (not parallel)";
}
