namespace KvBlockPool.Cli;

/// <summary>The process exit codes of every command.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command ran, and found a broken invariant (a leak, a miscount, corruption) or a damaged file.</summary>
    public const int InvariantBroken = 1;

    /// <summary>The command line was wrong; nothing ran.</summary>
    public const int Usage = 2;
}
