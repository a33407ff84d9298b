using KvBlockPool.Lifecycle;
namespace KvBlockPool.Tests.Lifecycle;

public sealed class AgentCacheManagerRaceTests
{
    [Fact]
    public void Threads_racing_on_the_same_agents_never_corrupt_the_books_or_leak_a_block()
    {
        const int Agents = 6;
        using BlockPool pool = TestPools.Create(capacity: 4 * 40, layers: 4);
        using var manager = new AgentCacheManager(pool);
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();

        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            var random = new Random(1000 + worker);
            for (int op = 0; op < 2500; op++)
            {
                var agent = new AgentId(1 + random.Next(Agents));
                try
                {
                    switch (random.Next(5))
                    {
                        case 0:
                            manager.TryAdmit(agent, random.Next(1, 17));
                            break;
                        case 1:
                        case 2:
                            manager.TryAppend(agent, random.Next(1, 6));
                            break;
                        case 3:
                            if (manager.TryGetInfo(agent, out AgentCacheInfo info))
                            {
                                manager.Truncate(agent, random.Next(0, info.Tokens + 1));
                            }

                            break;
                        default:
                            if (manager.IsAdmitted(agent))
                            {
                                manager.Release(agent);
                            }

                            break;
                    }
                }
                catch (KeyNotFoundException)
                {
                    // released by another thread between our calls
                }
                catch (ArgumentException ex) when (ex is not ArgumentOutOfRangeException || ex.Message.Contains("Cannot truncate", StringComparison.Ordinal))
                {
                    // admitted by another thread first, or shortened by another thread since we read its length
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex);
                }
            }
        });

        Assert.Empty(failures);
        Assert.Null(pool.FindInvariantViolation());
        long blocks = 0, tokens = 0;
        for (int id = 1; id <= Agents; id++)
        {
            if (manager.TryGetInfo(new AgentId(id), out AgentCacheInfo info))
            {
                Assert.Equal(info.TotalBlocks, pool.GetBlockCount(info.Agent)); // the manager's books match the pool's
                blocks += info.TotalBlocks;
                tokens += info.Tokens;
            }
            else
            {
                Assert.False(pool.ContainsAgent(new AgentId(id)));
            }
        }

        Assert.Equal(blocks, manager.TotalBlocks);
        Assert.Equal(tokens, manager.TotalTokens);
        Assert.Equal(blocks, pool.AllocatedBlocks);
        for (int id = 1; id <= Agents; id++)
        {
            if (manager.IsAdmitted(new AgentId(id)))
            {
                manager.Release(new AgentId(id));
            }
        }

        Assert.Equal(0, pool.AllocatedBlocks);
        Assert.Equal((0, 0L, 0L), (manager.AgentCount, manager.TotalBlocks, manager.TotalTokens));
    }
}
