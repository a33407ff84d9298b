namespace KvBlockPool.Tests.Shared;

/// <summary>
/// Tests that read process-wide figures (<see cref="BlockPool.LiveNativeBytes"/>, process RSS, the managed heap) or
/// change the environment: run alone, after the parallel tests, so no other test's pools move the figures they
/// compare and no other pool reads the environment they set.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideCollection
{
    public const string Name = "Process-wide figures and settings (not parallel)";
}
