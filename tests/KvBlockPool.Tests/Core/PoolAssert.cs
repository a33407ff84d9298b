namespace KvBlockPool.Tests.Core;

/// <summary>Assertions about the whole observable state of a pool.</summary>
internal static class PoolAssert
{
    /// <summary>Everything a caller or a test hook can observe: internal state dump, lock-free counters, agents.</summary>
    public static string Snapshot(BlockPool pool) =>
        $"{pool.DescribeState()}|{pool.GetStatistics()}|{pool.Capacity}/{pool.AvailableBlocks}/{pool.AllocatedBlocks}/{pool.HighWaterMark}/{pool.AgentCount}/{pool.NativeBytes}";

    /// <summary>Asserts <paramref name="call"/> throws exactly <typeparamref name="TException"/> and leaves the pool exactly as it was, with every invariant holding.</summary>
    public static TException ThrowsAndChangesNothing<TException>(BlockPool pool, Action call, params string[] messageContains)
        where TException : Exception
    {
        string before = Snapshot(pool);
        TException error = Assert.Throws<TException>(call);
        foreach (string part in messageContains)
        {
            Assert.Contains(part, error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, Snapshot(pool));
        Invariants(pool);
        return error;
    }

    public static void Invariants(BlockPool pool) => Assert.Null(pool.FindInvariantViolation());
}
