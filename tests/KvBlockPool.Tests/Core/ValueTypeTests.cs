namespace KvBlockPool.Tests.Core;

public sealed class ValueTypeTests
{
    [Fact]
    public void Handles_compare_by_every_field_and_describe_themselves()
    {
        using BlockPool pool = TestPools.Create(capacity: 4);
        KvBlock a = pool.Allocate(new AgentId(1), 1);
        KvBlock same = pool.GetAgentBlocks(new AgentId(1)).GetBlock(1, 0);
        Assert.True(a == same);
        Assert.False(a != same);
        Assert.True(a.Equals((object)same));
        Assert.False(a.Equals("block"));
        Assert.Equal(a.GetHashCode(), same.GetHashCode());
        Assert.True(a != TestPools.Forge(a, generation: 3));
        Assert.Equal("block 0 (layer 1, generation 1)", a.ToString());
        Assert.Equal("default(KvBlock)", default(KvBlock).ToString());
        Assert.False(a.IsDefault);
        Assert.True(default(KvBlock).IsDefault);
    }

    [Fact]
    public void Agent_ids_compare_by_value()
    {
        var a = new AgentId(-4);
        Assert.True(a == new AgentId(-4));
        Assert.True(a != new AgentId(4));
        Assert.True(a.Equals((object)new AgentId(-4)));
        Assert.False(a.Equals(-4L));
        Assert.Equal(new AgentId(-4).GetHashCode(), a.GetHashCode());
        Assert.Equal("agent -4", a.ToString());
        Assert.Equal(-4, a.Value);
    }

    [Fact]
    public void Statistics_add_up_and_compare_by_value()
    {
        using BlockPool pool = TestPools.Create(capacity: 10);
        pool.Allocate(new AgentId(1), 0, 4);
        pool.Allocate(new AgentId(2), 0, 2);
        pool.FreeAgent(new AgentId(2));
        BlockPoolStatistics stats = pool.GetStatistics();
        Assert.Equal((10, 6, 4, 6, 1, 256), (stats.Capacity, stats.Available, stats.Allocated, stats.HighWaterMark, stats.Agents, stats.BytesPerBlock));
        Assert.Equal((1024L, 1536L), (stats.AllocatedBytes, stats.AvailableBytes));
        Assert.Equal("4/10 allocated (peak 6), 1 agents", stats.ToString());
        BlockPoolStatistics again = pool.GetStatistics();
        Assert.True(stats == again);
        Assert.False(stats != again);
        Assert.True(stats.Equals((object)again));
        Assert.False(stats.Equals(4));
        Assert.Equal(stats.GetHashCode(), again.GetHashCode());
        pool.Allocate(new AgentId(1), 0);
        Assert.True(stats != pool.GetStatistics());
    }

    [Fact]
    public void Exceptions_carry_their_details()
    {
        var inner = new InvalidOperationException("cause");
        Assert.Equal("m", new KvBlockPoolException("m").Message);
        Assert.Same(inner, new KvBlockPoolException("m", inner).InnerException);
        Assert.Equal("Exception of type 'KvBlockPool.KvBlockPoolException' was thrown.", new KvBlockPoolException().Message);
        var handle = new InvalidBlockHandleException(default, InvalidBlockHandleReason.Stale, "x");
        Assert.Equal(InvalidBlockHandleReason.Stale, handle.Reason);
        Assert.Null(new NativeAllocationException("n", 5, null).InnerException);
    }
}
