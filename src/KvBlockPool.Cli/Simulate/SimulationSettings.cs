using KvBlockPool.Cli.Simulate.SharedPrefix;
using KvBlockPool.Cli.Simulate.Tier;

namespace KvBlockPool.Cli.Simulate;

/// <summary>What <c>simulate</c> runs: the model shape, the pool's size and the host's workload.</summary>
internal sealed record SimulationSettings
{
    public const int DefaultCapacityMiB = 256;
    public const int DefaultAgents = 16;
    public const int DefaultThreads = 4;
    public const double DefaultDurationSeconds = 5;
    public const int DefaultSeed = 42;

    public required string Preset { get; init; }

    public required string ModelTitle { get; init; }

    public required KvCacheSpec Spec { get; init; }

    /// <summary>The pool's native-memory budget. 256 MiB holds 4096 Llama-3-8B blocks: room for a dozen agents, and zeroed at construction in a fraction of a second.</summary>
    public int CapacityMiB { get; init; } = DefaultCapacityMiB;

    /// <summary>Agent slots: how many sequences the host keeps in flight at once, across all threads.</summary>
    public int Agents { get; init; } = DefaultAgents;

    public int Threads { get; init; } = DefaultThreads;

    public double DurationSeconds { get; init; } = DefaultDurationSeconds;

    public int Seed { get; init; } = DefaultSeed;

    public bool Diagnostics { get; init; }

    /// <summary>The shared-prefix workload's knobs, or null for the independent workload (the default).</summary>
    public SharedPrefixSettings? SharedPrefix { get; init; }

    /// <summary>The shared tier of a shared-prefix run (<c>--tier</c>): an embedded Garnet unless told otherwise; off for the independent workload.</summary>
    public TierChoice Tier { get; init; } = TierChoice.Off;

    /// <summary>Hosts sharing the tier (<c>--hosts</c>): 1, or 2 for a second host in a process of its own.</summary>
    public int Hosts { get; init; } = 1;

    /// <summary>The workload's name as <c>--workload</c> takes it.</summary>
    public string Workload => SharedPrefix is null ? WorkloadNames.Independent : WorkloadNames.SharedPrefix;
}
