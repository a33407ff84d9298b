namespace KvBlockPool.Cli.Simulate;

/// <summary>The workloads <c>--workload</c> accepts.</summary>
internal static class WorkloadNames
{
    /// <summary>Every prompt its own, no prefix cache: the default.</summary>
    public const string Independent = "independent";

    /// <summary>Conversations on a few shared system prompts that come back for more turns, through the prefix cache.</summary>
    public const string SharedPrefix = "shared-prefix";

    public static IReadOnlyList<string> All { get; } = [Independent, SharedPrefix];
}
