using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// Calls that can never succeed are refused before they build anything, and a constructor that fails after its slabs
/// were allocated frees them before the exception leaves (found by hostile probes of the landed code).
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class RefusedFirstTests
{
    private static readonly AgentId Agent = new(7);

    public static TheoryData<int, int> HugeAllLayerRequests() => new()
    {
        { int.MaxValue, 4 },        // blocksPerLayer * layers overflows an int: OverflowException before
        { int.MaxValue / 32, 32 },  // fits a long, not the heap: OutOfMemoryException before
        { 1_000_000, 4 },           // a 64 MB handle array built before the refusal
    };

    [Theory]
    [MemberData(nameof(HugeAllLayerRequests))]
    public void A_scope_refuses_an_all_layer_request_larger_than_the_pool_before_building_its_array(int blocksPerLayer, int layers)
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: layers);
        using AllocationScope scope = pool.BeginScope(Agent);
        scope.Allocate(0);
        long before = GC.GetAllocatedBytesForCurrentThread();
        BlockPoolExhaustedException error = PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => scope.AllocateAllLayers(blocksPerLayer));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal((int)Math.Min((long)blocksPerLayer * layers, int.MaxValue), error.Requested);
        Assert.Equal(64, error.Capacity);
        Assert.Equal(1, scope.BlockCount);

        // The snapshots and the exception take a few KB; a handle array for the request would take megabytes.
        Assert.True(allocated < 256 * 1024, $"the refused call allocated {allocated} bytes");
    }

    [Fact]
    public void The_pool_refuses_an_all_layer_request_larger_than_the_pool_before_building_its_array()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        long before = GC.GetAllocatedBytesForCurrentThread();
        PoolAssert.ThrowsAndChangesNothing<BlockPoolExhaustedException>(pool, () => pool.AllocateAllLayers(Agent, int.MaxValue));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 256 * 1024);
    }

    [Fact]
    public void A_layer_of_minus_one_is_out_of_range_on_every_single_layer_overload()
    {
        // The allocation body serves one layer and every layer; -1 must never be read as "every layer".
        using BlockPool pool = TestPools.Create(capacity: 8);
        using AllocationScope scope = pool.BeginScope(Agent);
        var one = new KvBlock[1];
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.Allocate(Agent, -1));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.Allocate(Agent, -1, 1));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.Allocate(Agent, -1, one));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => pool.TryAllocate(Agent, -1, one));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => scope.Allocate(-1));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => scope.Allocate(-1, 1));
        PoolAssert.ThrowsAndChangesNothing<ArgumentOutOfRangeException>(pool, () => scope.TryAllocate(-1, one));
    }

    [Fact]
    public void A_logger_factory_that_throws_leaves_no_native_memory_behind()
    {
        long live = BlockPool.LiveNativeBytes;
        Assert.Throws<InvalidOperationException>(() => TestPools.Create(capacity: 256, loggerFactory: new ThrowingLoggerFactory()));
        Assert.Equal(live, BlockPool.LiveNativeBytes);
    }

    [Fact]
    public void A_meter_factory_that_throws_after_the_slabs_were_allocated_frees_them_before_the_exception_leaves()
    {
        long live = BlockPool.LiveNativeBytes;
        Assert.Throws<InvalidOperationException>(() => TestPools.Create(capacity: 256, meterFactory: new ThrowingMeterFactory()));
        Assert.Equal(live, BlockPool.LiveNativeBytes); // no finalizer had to run
    }

    private sealed class ThrowingLoggerFactory : ILoggerFactory
    {
        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => throw new InvalidOperationException("no logger today");

        public void Dispose()
        {
        }
    }

    private sealed class ThrowingMeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => throw new InvalidOperationException("no meter today");

        public void Dispose()
        {
        }
    }
}
