using KvBlockPool.Internal;

namespace KvBlockPool;

/// <content>Releasing an agent: every block it holds goes back to the pool. Unknown ids are never skipped silently.</content>
public sealed partial class AgentCacheManager
{
    /// <summary>
    /// Releases <paramref name="agent"/>: frees every block the pool holds for it, on every layer, and forgets it.
    /// For an agent this manager does not know (never admitted, already released), logs an error and still frees
    /// whatever the pool holds for that id, so a host's bookkeeping slip can never leak a cache.
    /// </summary>
    /// <param name="agent">The agent.</param>
    /// <returns>Blocks freed (all layers); for an unknown agent, the blocks reclaimed for that id (usually 0).</returns>
    /// <exception cref="BlockCorruptionException">Diagnostics mode found guard bytes overwritten; the release took effect.</exception>
    /// <exception cref="ObjectDisposedException">The manager or the pool is disposed.</exception>
    public int Release(AgentId agent)
    {
        AgentCache? record = TryEnter(agent);
        if (record is null)
        {
            int reclaimed = _pool.FreeAgent(agent);
            LifecycleLog.UnknownAgentReleased(_logger, agent, reclaimed);
            return reclaimed;
        }

        int expected = record.BlocksPerLayer * record.LayerCount;
        int freed = -1;
        bool forgotten = false;
        try
        {
            try
            {
                freed = _pool.FreeAgent(agent);
            }
            catch (BlockCorruptionException)
            {
                // The pool released the blocks before it reported the overrun.
                Forget(record);
                forgotten = true;
                throw;
            }

            Forget(record);
            forgotten = true;
        }
        finally
        {
            Monitor.Exit(record);
            if (forgotten)
            {
                _records.Return(record);
            }
        }

        if (freed != expected)
        {
            LifecycleLog.ReleaseCountMismatch(_logger, agent, freed, expected);
        }

        return freed;
    }
}
