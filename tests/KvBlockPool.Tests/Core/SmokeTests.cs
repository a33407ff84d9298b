namespace KvBlockPool.Tests.Core;

public sealed class SmokeTests
{
    [Fact]
    public void A_pool_hands_out_frees_and_accounts_for_blocks()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        var agent = new AgentId(1);
        KvBlock[] blocks = pool.Allocate(agent, 0, 3);
        Assert.Equal(5, pool.AvailableBlocks);
        pool.GetBlockSpan(blocks[0]).Fill(7);
        Assert.Null(pool.FindInvariantViolation());
        using (AllocationScope scope = pool.BeginScope(agent))
        {
            scope.Allocate(1, 2);
            Assert.Equal(3, pool.GetBlockCount(agent));
        }

        Assert.Equal(5, pool.AvailableBlocks);
        pool.Free(agent, blocks[0]);
        Assert.Throws<DoubleFreeException>(() => pool.Free(agent, blocks[0]));
        KvBlock again = pool.Allocate(new AgentId(2), 0);
        Assert.Equal(blocks[0].Id, again.Id);
        Assert.True(pool.GetBlockSpan(again).IndexOfAnyExcept((byte)0) < 0);
        Assert.Throws<StaleBlockHandleException>(() => pool.Free(agent, blocks[0]));
        Assert.Equal(2, pool.FreeAgent(agent));
        Assert.Null(pool.FindInvariantViolation());
    }
}
