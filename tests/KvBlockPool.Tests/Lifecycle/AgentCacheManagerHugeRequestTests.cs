using KvBlockPool.Lifecycle;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Lifecycle;

/// <summary>
/// Requests far beyond the pool (issue 13, "the lifecycle layer grows before it asks"): every one is refused with
/// a specific exception before the manager computes anything that can overflow or grows any array, and leaves
/// the manager's books, its records' array sizes and the pool exactly as they were.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class AgentCacheManagerHugeRequestTests(ITestOutputHelper output)
{
    private static readonly AgentId Alice = new(1);
    private static readonly AgentId Bob = new(2);
    private static readonly AgentId Carol = new(3);

    [Theory]
    [InlineData(int.MaxValue - 10)] // 10 + this = int.MaxValue tokens: 536,870,912 blocks per layer, more blocks on 4 layers than an int counts
    [InlineData(int.MaxValue - 20)]
    [InlineData(1_000_000)]
    [InlineData(97)]                // 107 tokens: 27 blocks per layer, 108 blocks, the pool has 24
    public void An_append_the_pool_could_never_hold_is_refused_as_exhaustion_and_changes_nothing(int tokens)
    {
        using BlockPool pool = TestPools.Create(capacity: 24, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 10); // 3 blocks per layer, 12 blocks
        manager.Admit(Bob, promptTokens: 8);    // 8 blocks; 4 left
        string before = Snapshot(pool, manager);

        BlockPoolExhaustedException error = Assert.Throws<BlockPoolExhaustedException>(() => manager.Append(Alice, tokens));

        Assert.Equal(before, Snapshot(pool, manager));
        Assert.Equal((4, 24), (error.Available, error.Capacity));
        Assert.True(error.Requested > error.Capacity, error.Message);
        Assert.Contains("Nothing was allocated", error.Message, StringComparison.Ordinal);
        Assert.False(manager.TryAppend(Alice, tokens));
        Assert.Equal(before, Snapshot(pool, manager));
        Assert.Null(pool.FindInvariantViolation());
        Assert.Equal(1, manager.Append(Alice, 3)); // still usable: 13 tokens, a 4th block on every layer (the last 4 free)
    }

    [Theory]
    [InlineData(int.MaxValue)]     // 10 + int.MaxValue tokens: more than a cache can count
    [InlineData(int.MaxValue - 9)] // exactly one past
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void An_append_of_a_nonsense_token_count_is_refused_as_out_of_range_and_changes_nothing(int tokens)
    {
        using BlockPool pool = TestPools.Create(capacity: 24, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 10);
        string before = Snapshot(pool, manager);

        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => manager.Append(Alice, tokens));
        Assert.Equal("tokens", error.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.TryAppend(Alice, tokens));

        Assert.Equal(before, Snapshot(pool, manager));
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(int.MaxValue - 10)]
    [InlineData(1_000_000)]
    [InlineData(97)]
    [InlineData(-1)]
    public void An_admission_the_pool_could_never_hold_or_of_a_nonsense_prompt_is_refused_as_out_of_range_and_changes_nothing(int promptTokens)
    {
        using BlockPool pool = TestPools.Create(capacity: 24, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 10);
        string before = Snapshot(pool, manager);

        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => manager.Admit(Carol, promptTokens));
        Assert.Equal("promptTokens", error.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.TryAdmit(Carol, promptTokens));

        Assert.Equal(before, Snapshot(pool, manager));
        Assert.False(manager.IsAdmitted(Carol));
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(11)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void A_truncation_to_a_nonsense_length_is_refused_as_out_of_range_and_changes_nothing(int tokens)
    {
        using BlockPool pool = TestPools.Create(capacity: 24, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 10);
        string before = Snapshot(pool, manager);

        Assert.Equal("tokens", Assert.Throws<ArgumentOutOfRangeException>(() => manager.Truncate(Alice, tokens)).ParamName);

        Assert.Equal(before, Snapshot(pool, manager));
    }

    [Fact]
    public void An_append_refused_for_want_of_free_blocks_grows_none_of_the_agents_arrays()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 4);
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 4);  // 1 block per layer
        manager.Admit(Bob, promptTokens: 56);   // 14 blocks per layer, 56 blocks; 4 left
        string before = Snapshot(pool, manager);

        // 44 tokens: 11 blocks per layer, 40 more blocks. The pool could hold them, just not now.
        BlockPoolExhaustedException error = Assert.Throws<BlockPoolExhaustedException>(() => manager.Append(Alice, 40));
        Assert.Equal((40, 4, 64), (error.Requested, error.Available, error.Capacity));
        Assert.Equal(before, Snapshot(pool, manager));
        Assert.False(manager.TryAppend(Alice, 40));
        Assert.Equal(before, Snapshot(pool, manager));

        manager.Release(Bob);
        Assert.Equal(10, manager.Append(Alice, 40));
        Assert.Equal(44, manager.GetInfo(Alice).Tokens);
        Assert.Equal(44, pool.AllocatedBlocks);
        Assert.Equal(44, manager.Release(Alice));
    }

    [Fact]
    public void A_refused_append_of_a_million_tokens_allocates_nothing_big_on_the_managed_heap()
    {
        RefusedMillionTokenAppend(out _, out _); // warm-up: the refusal path is compiled, the exception types are loaded

        long allocated = RefusedMillionTokenAppend(out string before, out string after);

        output.WriteLine($"A refused Append(agent, 1,000,000) on a 64-block Llama-3-8B pool: {allocated:N0} bytes allocated on the managed heap");
        Assert.True(allocated < 64 * 1024, $"{allocated:N0} bytes allocated by a refused call");
        Assert.Equal(before, after);
    }

    /// <summary>A Llama-3-8B pool of 64 blocks (2 per layer), one agent with 16 tokens, and Append(agent, 1,000,000): 62,500 blocks per layer, 2,000,000 blocks.</summary>
    private static long RefusedMillionTokenAppend(out string before, out string after)
    {
        using var pool = new BlockPool(new BlockPoolOptions { Spec = KvCacheSpec.Llama3_8B(), CapacityBlocks = 64, ClearMode = BlockClearMode.None });
        using var manager = new AgentCacheManager(pool);
        manager.Admit(Alice, promptTokens: 16);
        before = Snapshot(pool, manager);

        long start = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            manager.Append(Alice, 1_000_000);
        }
        catch (BlockPoolExhaustedException)
        {
            // expected; checked below
        }
        catch (OverflowException)
        {
            // how larger counts failed before issue 13 was fixed; still a refusal, so only the allocation is measured here
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - start;
        after = Snapshot(pool, manager);
        return allocated;
    }

    /// <summary>The manager's books (totals, every record with its array sizes) and the pool's whole state.</summary>
    private static string Snapshot(BlockPool pool, AgentCacheManager manager) =>
        manager.DescribeState() + " | " + pool.DescribeState();
}
