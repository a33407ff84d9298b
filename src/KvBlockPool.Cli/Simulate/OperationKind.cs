namespace KvBlockPool.Cli.Simulate;

/// <summary>The operations the simulated host times.</summary>
internal enum OperationKind
{
    Admit,
    Append,
    Truncate,
    Release,

    /// <summary>A prefill that was abandoned part-way through the layers: its allocation scope rolls back.</summary>
    AbortedAdmission,
}
