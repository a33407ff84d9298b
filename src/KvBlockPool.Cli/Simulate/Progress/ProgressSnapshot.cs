namespace KvBlockPool.Cli.Simulate.Progress;

/// <summary>What the live view shows at one moment of a simulation.</summary>
internal readonly record struct ProgressSnapshot(TimeSpan Elapsed, TimeSpan Duration, int Agents, int AllocatedBlocks, int CapacityBlocks, long Operations);
