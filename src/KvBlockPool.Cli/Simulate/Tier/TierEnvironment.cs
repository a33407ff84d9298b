namespace KvBlockPool.Cli.Simulate.Tier;

/// <summary>
/// The tier's secrets come from the environment, never from the command line (which other users of the machine can
/// read in the process list, and shells keep in their history), and are never printed.
/// </summary>
internal static class TierEnvironment
{
    /// <summary>The prefix cache's key secret, in hex (16 to 1,024 bytes): hosts sharing a tier must share it.</summary>
    public const string KeySecret = "KVBLOCKPOOL_TIER_SECRET";

    /// <summary>The external server's password, if it asks for one.</summary>
    public const string Password = "KVBLOCKPOOL_TIER_PASSWORD";
}
