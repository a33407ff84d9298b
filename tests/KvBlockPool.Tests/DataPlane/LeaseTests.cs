using KvBlockPool.Tests.Core;

namespace KvBlockPool.Tests.DataPlane;

public sealed class LeaseTests
{
    private static readonly AgentId Agent = new(21);
    private static readonly AgentId Other = new(22);

    [Fact]
    public void A_lease_of_every_layer_holds_the_agents_blocks_in_token_order()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 3, blocksPerSlab: 5);
        pool.AllocateAllLayers(Agent, 2);
        pool.Allocate(Other, 1, 2);
        pool.AllocateAllLayers(Agent, 1);
        using KvCacheLease lease = pool.Lease(Agent);
        Assert.Equal((Agent, 0, 3), (lease.Agent, lease.FirstLayer, lease.LayerCount));
        Assert.Same(pool.Spec, lease.Spec);
        for (int layer = 0; layer < 3; layer++)
        {
            int[] expected = new int[8];
            int count = pool.CopyBlockIds(Agent, layer, expected);
            Assert.Equal(3, lease.GetBlockCount(layer));
            Assert.Equal(expected[..count], lease.GetBlockIds(layer).ToArray());
            for (int index = 0; index < count; index++)
            {
                KvBlock block = lease.GetBlock(layer, index);
                Assert.Equal((expected[index], layer), (block.Id, block.Layer));
                Assert.True(pool.GetKeySpan(block) == lease.GetKeys<byte>(layer, index));
                Assert.True(pool.GetValueSpan(block) == lease.GetValues<byte>(layer, index));
            }
        }
    }

    [Theory]
    [InlineData(4, 3)] // a power of two: shift and mask
    [InlineData(3, 4)] // any other count: a division
    [InlineData(0, 1)] // the default: one slab for so small a pool
    public unsafe void Spans_pointers_and_addressing_reach_the_same_bytes(int blocksPerSlab, int slabs)
    {
        using BlockPool pool = TestPools.Create(capacity: 12, layers: 2, blocksPerSlab: blocksPerSlab);
        pool.Allocate(Other, 0, 5); // the agent's blocks land in later slabs
        pool.AllocateAllLayers(Agent, 3);
        using KvCacheLease lease = pool.Lease(Agent);
        KvBlockAddressing addressing = lease.Addressing;
        Assert.Equal(slabs, addressing.SlabBases.Length);
        Assert.Equal((blocksPerSlab == 0 ? 12 : blocksPerSlab, 128, 12), (addressing.BlocksPerSlab, addressing.BytesPerHalf, addressing.Capacity));
        for (int layer = 0; layer < 2; layer++)
        {
            for (int index = 0; index < 3; index++)
            {
                int id = lease.GetBlockIds(layer)[index];
                byte* pointer = lease.GetPointer(layer, index);
                Assert.Equal((nint)pointer, addressing.GetBlockAddress(id));
                Assert.Equal((nint)pointer, addressing.SlabBases[id / addressing.BlocksPerSlab] + (nint)((id % addressing.BlocksPerSlab) * addressing.Stride));
                lease.GetValues<Half>(layer, index).Fill((Half)(layer + index));
                Assert.Equal((Half)(layer + index), *(Half*)(addressing.GetBlockAddress(id) + addressing.BytesPerHalf));
                Assert.Equal((nint)pool.GetPointer(lease.GetBlock(layer, index)), (nint)pointer);
            }
        }
    }

    [Theory]
    [InlineData(KvBlockLayout.HeadMajor)]
    [InlineData(KvBlockLayout.TokenMajor)]
    public void A_token_vector_lies_where_the_layout_says(KvBlockLayout layout)
    {
        // 3 heads x 4 dims x 5 tokens per block, float32.
        var spec = new KvCacheSpec(2, 3, 4, 5, KvElementType.Float32, layout);
        using BlockPool pool = TestPools.Create(capacity: 8, spec: spec);
        pool.AllocateAllLayers(Agent, 2);
        using KvCacheLease lease = pool.Lease(Agent);
        for (int token = 0; token < 10; token++)
        {
            for (int head = 0; head < 3; head++)
            {
                Span<float> key = lease.GetKeyVector<float>(1, token, head);
                Span<float> value = lease.GetValueVector<float>(1, token, head);
                Assert.Equal((4, 4), (key.Length, value.Length));
                key.Fill((token * 10) + head);
                value.Fill(-((token * 10) + head));
            }
        }

        for (int block = 0; block < 2; block++)
        {
            Span<float> keys = lease.GetKeys<float>(1, block);
            Span<float> values = lease.GetValues<float>(1, block);
            Assert.Equal(60, keys.Length);
            for (int slot = 0; slot < 5; slot++)
            {
                for (int head = 0; head < 3; head++)
                {
                    // The documented formula, written out rather than taken from the spec under test.
                    int at = layout == KvBlockLayout.HeadMajor ? (((head * 5) + slot) * 4) : (((slot * 3) + head) * 4);
                    float expected = (((block * 5) + slot) * 10) + head;
                    Assert.Equal([expected, expected, expected, expected], keys.Slice(at, 4).ToArray());
                    Assert.Equal(-expected, values[at + 3]);
                }
            }
        }
    }

    [Fact]
    public void A_leased_agent_cannot_be_freed_but_can_grow_and_the_lease_keeps_its_view()
    {
        using BlockPool pool = TestPools.Create(capacity: 32, layers: 2);
        KvBlock[] blocks = pool.AllocateAllLayers(Agent, 2);
        KvCacheLease lease = pool.Lease(Agent, layer: 1);
        PoolAssert.ThrowsAndChangesNothing<AgentPinnedException>(pool, () => pool.Free(Agent, blocks[0]), "lease");
        PoolAssert.ThrowsAndChangesNothing<AgentPinnedException>(pool, () => pool.Free(Agent, blocks), "lease");
        PoolAssert.ThrowsAndChangesNothing<AgentPinnedException>(pool, () => pool.FreeAgent(Agent), "lease");

        // Growth moves the owner's list to a larger array; the lease keeps the ids it saw.
        int[] before = lease.GetBlockIds(1).ToArray();
        pool.AllocateAllLayers(Agent, 7);
        Assert.Equal(before, lease.GetBlockIds(1).ToArray());
        Assert.Equal(2, lease.GetBlockCount(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => lease.GetKeys<Half>(1, 2));
        PoolAssert.Invariants(pool);

        lease.Dispose();
        Assert.Equal(18, pool.FreeAgent(Agent));
        Assert.Equal(32, pool.GetStatistics().Available);
        PoolAssert.Invariants(pool);
    }

    [Fact]
    public void Frees_of_other_agents_go_on_and_pins_count_every_open_lease()
    {
        using BlockPool pool = TestPools.Create(capacity: 16, layers: 2);
        pool.AllocateAllLayers(Agent, 1);
        pool.AllocateAllLayers(Other, 1);
        KvCacheLease first = pool.Lease(Agent);
        KvCacheLease second = pool.Lease(Agent, 0);
        Assert.Equal(2, pool.FreeAgent(Other));
        Assert.Equal(2, pool.GetPinCount(Agent));
        first.Dispose();
        Assert.Throws<AgentPinnedException>(() => pool.FreeAgent(Agent));
        second.Dispose();
        Assert.Equal(0, pool.GetPinCount(Agent));
        Assert.Equal(2, pool.FreeAgent(Agent));
    }

    [Fact]
    public void Dispose_is_idempotent_through_copies_and_a_disposed_lease_refuses_every_call()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        pool.AllocateAllLayers(Agent, 1);
        KvCacheLease lease = pool.Lease(Agent);
        KvCacheLease copy = lease;
        Assert.True(copy == lease && copy.Equals((object)lease) && copy.GetHashCode() == lease.GetHashCode());
        Assert.True(lease.IsOpen);
        copy.Dispose();
        lease.Dispose();
        copy.Dispose();
        Assert.False(lease.IsOpen);
        Assert.Equal(0, pool.GetPinCount(Agent));

        // The state object is reused by the next lease; the old value must not read it.
        using KvCacheLease next = pool.Lease(Agent);
        Assert.True(next != lease);
        AssertEveryCallRefused<ObjectDisposedException>(pool, lease);
        Assert.True(next.IsOpen);

        AssertEveryCallRefused<ObjectDisposedException>(pool, default);
        Assert.False(default(KvCacheLease).IsOpen);
        default(KvCacheLease).Dispose(); // nothing to end
    }

    [Fact]
    public void Bad_arguments_are_refused_with_specific_exceptions_and_change_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 3);
        pool.AllocateAllLayers(Agent, 2);
        using KvCacheLease lease = pool.Lease(Agent, 1);
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.Lease(Agent, 3), "Layer must be between 0 and 2");
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.Lease(Agent, -1));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => lease.GetBlockIds(0), "covers layer 1 only");
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => lease.GetKeys<Half>(2, 0));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => lease.GetValues<Half>(1, 2), "holds 2 block(s) on layer 1");
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => lease.GetBlock(1, -1));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => lease.GetKeyVector<Half>(1, 8, 0), "tokens 0 to 7");
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => lease.GetKeyVector<Half>(1, -1, 0));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => lease.GetValueVector<Half>(1, 0, 2), "Head 2");
        PoolAssert.ThrowsAndChangesNothing<ElementTypeMismatchException>(pool, () => lease.GetKeys<float>(1, 0), "Float16", "Single");
        PoolAssert.ThrowsAndChangesNothing<ElementTypeMismatchException>(pool, () => lease.GetValueVector<sbyte>(1, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => lease.Addressing.GetBlockAddress(8));
        Assert.Throws<ArgumentOutOfRangeException>(() => lease.Addressing.GetBlockAddress(-1));
    }

    [Fact]
    public void An_agent_holding_nothing_gets_an_empty_lease_that_pins_nothing()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        string before = PoolAssert.Snapshot(pool);
        using (KvCacheLease lease = pool.Lease(Agent))
        {
            Assert.Equal((0, 0), (lease.GetBlockCount(0), lease.GetBlockIds(1).Length));
            Assert.Throws<ArgumentOutOfRangeException>(() => lease.GetKeys<Half>(0, 0));
            Assert.Equal(0, pool.GetPinCount(Agent));
        }

        Assert.Equal(before, PoolAssert.Snapshot(pool));
        using (pool.Lease(Agent))
        {
            pool.AllocateAllLayers(Agent, 1); // an empty lease holds nothing back
            Assert.Equal(2, pool.FreeAgent(Agent));
        }
    }

    [Fact]
    public void A_pool_with_an_open_lease_is_not_reconfigured()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        KvCacheLease lease = pool.Lease(Agent); // empty, but it holds the configuration's addressing
        PoolAssert.ThrowsAndChangesNothing<BlockPoolInUseException>(pool, () => pool.Reconfigure(TestPools.Spec(layers: 4)), "1 lease(s) are open");
        lease.Dispose();
        pool.Reconfigure(TestPools.Spec(layers: 4));
        Assert.Equal(4, pool.Spec.Layers);
    }

    [Fact]
    public void Disposing_the_pool_closes_its_leases_and_the_last_lease_frees_the_memory()
    {
        var pool = TestPools.Create(capacity: 64, spec: new KvCacheSpec(2, 4, 64, 16, KvElementType.Float32));
        pool.AllocateAllLayers(Agent, 2);
        KvCacheLease first = pool.Lease(Agent);
        KvCacheLease second = pool.Lease(Agent, 0);
        first.GetKeys<float>(0, 0).Fill(1);

        pool.Dispose();
        Assert.NotNull(pool.LeakReport);
        AssertEveryCallRefused<ObjectDisposedException>(pool, first);
        Assert.False(first.IsOpen);
        Assert.Throws<ObjectDisposedException>(() => pool.Lease(Agent));

        // The slabs stay until the last lease ends: a reader racing Dispose never touches freed memory.
        Assert.False(pool.SlabsFreed, "the slabs were freed under open leases");
        first.Dispose();
        Assert.False(pool.SlabsFreed, "the slabs were freed under an open lease");
        second.Dispose();
        second.Dispose();
        Assert.True(pool.SlabsFreed, "the last lease did not free the slabs");
    }

    [Fact]
    public void Reading_through_a_lease_allocates_nothing_and_leasing_allocates_nothing_once_warm()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4, spec: new KvCacheSpec(4, 2, 8, 4, KvElementType.Float32));
        pool.AllocateAllLayers(Agent, 8);
        using (pool.Lease(Agent))
        {
        }

        long start = GC.GetAllocatedBytesForCurrentThread();
        float sum = 0;
        for (int round = 0; round < 100; round++)
        {
            using KvCacheLease lease = pool.Lease(Agent);
            for (int layer = 0; layer < lease.LayerCount; layer++)
            {
                foreach (int id in lease.GetBlockIds(layer))
                {
                    sum += id;
                }

                for (int index = 0; index < lease.GetBlockCount(layer); index++)
                {
                    sum += lease.GetKeys<float>(layer, index)[0] + lease.GetValues<float>(layer, index)[1];
                    sum += lease.GetKeyVector<float>(layer, index * 4, 1)[2];
                }
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - start);
        Assert.True(sum > 0);
    }

    [Fact]
    public void Readers_on_real_threads_never_see_a_leased_block_go_to_another_agent()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 2, clearMode: BlockClearMode.ZeroOnFree);
        const int Agents = 4;
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(600));
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        Parallel.For(0, Agents, worker =>
        {
            var agent = new AgentId(100 + worker);
            byte mark = (byte)(worker + 1);
            while (!stop.IsCancellationRequested)
            {
                if (!pool.TryAllocateAllLayers(agent, 2, new KvBlock[4]))
                {
                    continue;
                }

                using (KvCacheLease lease = pool.Lease(agent))
                {
                    for (int layer = 0; layer < 2; layer++)
                    {
                        lease.GetKeys<byte>(layer, 0).Fill(mark);
                        lease.GetValues<byte>(layer, 1).Fill(mark);
                    }

                    Thread.Yield();
                    for (int layer = 0; layer < 2; layer++)
                    {
                        if (lease.GetKeys<byte>(layer, 0).IndexOfAnyExcept(mark) >= 0 || lease.GetValues<byte>(layer, 1).IndexOfAnyExcept(mark) >= 0)
                        {
                            failures.Enqueue($"{agent}: a leased block was written by someone else");
                        }
                    }

                    if (Record.Exception(() => pool.FreeAgent(agent)) is not AgentPinnedException)
                    {
                        failures.Enqueue($"{agent}: a leased agent was freed");
                    }
                }

                pool.FreeAgent(agent);
            }
        });

        Assert.Empty(failures);
        PoolAssert.Invariants(pool);
        Assert.Equal(0, pool.GetStatistics().Allocated);
    }

    private static unsafe void AssertEveryCallRefused<TException>(BlockPool pool, KvCacheLease lease)
        where TException : Exception
    {
        string before = pool.IsDisposed ? string.Empty : PoolAssert.Snapshot(pool);
        Assert.Throws<TException>(() => lease.Agent);
        Assert.Throws<TException>(() => lease.Spec);
        Assert.Throws<TException>(() => lease.FirstLayer);
        Assert.Throws<TException>(() => lease.LayerCount);
        Assert.Throws<TException>(() => lease.Addressing);
        Assert.Throws<TException>(() => lease.GetBlockCount(0));
        Assert.Throws<TException>(() => lease.GetBlockIds(0).Length);
        Assert.Throws<TException>(() => lease.GetBlock(0, 0));
        Assert.Throws<TException>(() => lease.GetKeys<byte>(0, 0).Length);
        Assert.Throws<TException>(() => lease.GetValues<byte>(0, 0).Length);
        Assert.Throws<TException>(() => lease.GetKeyVector<byte>(0, 0, 0).Length);
        Assert.Throws<TException>(() => lease.GetValueVector<byte>(0, 0, 0).Length);
        Assert.Throws<TException>(() => (nint)lease.GetPointer(0, 0));
        Assert.Equal(before, pool.IsDisposed ? string.Empty : PoolAssert.Snapshot(pool));
    }
}
