namespace KvBlockPool.Tests.Core;

/// <summary>
/// Tests that read process-wide native-memory figures (<see cref="BlockPool.LiveNativeBytes"/>, process RSS) or
/// change the environment: run alone, after the parallel tests, so no other pool moves the figures under them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NativeMemoryCollection
{
    public const string Name = "Native memory (not parallel)";
}
