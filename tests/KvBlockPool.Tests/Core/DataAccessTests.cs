namespace KvBlockPool.Tests.Core;

public sealed class DataAccessTests
{
    private static readonly AgentId Agent = new(11);

    [Fact]
    public unsafe void Spans_and_the_pointer_cover_the_block_K_half_then_V_half()
    {
        using BlockPool pool = TestPools.Create(capacity: 4, blocksPerSlab: 2);
        KvBlock[] blocks = pool.Allocate(Agent, 0, 3);
        KvBlock block = blocks[2]; // in the second slab
        Span<byte> whole = pool.GetBlockSpan(block);
        Span<byte> key = pool.GetKeySpan(block);
        Span<byte> value = pool.GetValueSpan(block);
        Assert.Equal((256, 128, 128), (whole.Length, key.Length, value.Length));
        key.Fill(1);
        value.Fill(2);
        Assert.Equal(-1, whole[..128].IndexOfAnyExcept((byte)1));
        Assert.Equal(-1, whole[128..].IndexOfAnyExcept((byte)2));
        byte* pointer = pool.GetPointer(block);
        Assert.Equal(1, pointer[0]);
        Assert.Equal(2, pointer[255]);
        Assert.Equal(0, (long)pointer % 64);

        // Blocks do not overlap.
        foreach (KvBlock other in blocks[..2])
        {
            Assert.Equal(-1, pool.GetBlockSpan(other).IndexOfAnyExcept((byte)0));
        }
    }

    [Fact]
    public void Access_through_a_freed_handle_throws_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 4);
        KvBlock block = pool.Allocate(Agent, 0);
        pool.Free(Agent, block);
        var error = PoolAssert.ThrowsAndChangesNothing<StaleBlockHandleException>(pool, () => pool.GetBlockSpan(block), "was freed; its memory cannot be accessed");
        Assert.Equal(InvalidBlockHandleReason.Stale, error.Reason);
        PoolAssert.ThrowsAndChangesNothing<StaleBlockHandleException>(pool, () => pool.GetKeySpan(block), "was freed");
    }

    [Fact]
    public unsafe void Access_through_a_stale_handle_throws_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 1);
        KvBlock block = pool.Allocate(Agent, 0);
        pool.Free(Agent, block);
        pool.Allocate(new AgentId(12), 1);
        PoolAssert.ThrowsAndChangesNothing<StaleBlockHandleException>(pool, () => pool.GetValueSpan(block), "is stale", "Its memory cannot be accessed");
        PoolAssert.ThrowsAndChangesNothing<StaleBlockHandleException>(pool, () => _ = (nint)pool.GetPointer(block), "is stale");
    }

    [Fact]
    public void Access_through_a_foreign_or_default_handle_throws_and_changes_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 4);
        using BlockPool other = TestPools.Create(capacity: 4);
        pool.Allocate(Agent, 0);
        KvBlock foreign = other.Allocate(Agent, 0);
        PoolAssert.ThrowsAndChangesNothing<ForeignBlockHandleException>(pool, () => pool.GetBlockSpan(foreign), "was not issued by pool", "Its memory cannot be accessed");
        PoolAssert.ThrowsAndChangesNothing<ForeignBlockHandleException>(pool, () => pool.GetKeySpan(default), "default(KvBlock)");
    }
}
