using System.Text.RegularExpressions;
using KvBlockPool.Lifecycle;
using KvBlockPool.Tests.QuickStart;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// Huge and hostile counts on every public member that takes one: <c>int.MaxValue</c>, <c>int.MinValue</c>, -1,
/// and a value whose product with the layer count overflows. Each is refused with a specific exception (or a
/// <c>Try…</c> returns false) before anything is allocated or changed. The members come from the public API file,
/// so a new overload that takes a count fails <see cref="Every_public_member_that_takes_a_count_is_called_here"/>
/// until it is added to <see cref="Calls"/>.
/// </summary>
public sealed partial class HostileArgumentTests
{
    private static readonly AgentId Agent = new(3);

    private static readonly long[] HostileValues = [int.MaxValue, int.MinValue, -1, (int.MaxValue / 2) + 1];

    /// <summary>Each public member taking an int or long, with a call that puts the hostile value in that parameter and valid values elsewhere.</summary>
    private static readonly Dictionary<string, Func<Fixture, long, object?>> Calls = new(StringComparer.Ordinal)
    {
        ["KvBlockPool.BlockPool.Allocate(KvBlockPool.AgentId agent, int layer)#layer"] = (f, v) => f.Pool.Allocate(Agent, (int)v),
        ["KvBlockPool.BlockPool.Allocate(KvBlockPool.AgentId agent, int layer, int count)#layer"] = (f, v) => f.Pool.Allocate(Agent, (int)v, 1),
        ["KvBlockPool.BlockPool.Allocate(KvBlockPool.AgentId agent, int layer, int count)#count"] = (f, v) => f.Pool.Allocate(Agent, 0, (int)v),
        ["KvBlockPool.BlockPool.Allocate(KvBlockPool.AgentId agent, int layer, System.Span<KvBlockPool.KvBlock> destination)#layer"] = (f, v) => { f.Pool.Allocate(Agent, (int)v, new KvBlock[1]); return null; },
        ["KvBlockPool.BlockPool.TryAllocate(KvBlockPool.AgentId agent, int layer, System.Span<KvBlockPool.KvBlock> destination)#layer"] = (f, v) => f.Pool.TryAllocate(Agent, (int)v, new KvBlock[1]),
        ["KvBlockPool.BlockPool.AllocateAllLayers(KvBlockPool.AgentId agent, int blocksPerLayer)#blocksPerLayer"] = (f, v) => f.Pool.AllocateAllLayers(Agent, (int)v),
        ["KvBlockPool.BlockPool.AllocateAllLayers(KvBlockPool.AgentId agent, int blocksPerLayer, System.Span<KvBlockPool.KvBlock> destination)#blocksPerLayer"] = (f, v) => { f.Pool.AllocateAllLayers(Agent, (int)v, new KvBlock[2]); return null; },
        ["KvBlockPool.BlockPool.TryAllocateAllLayers(KvBlockPool.AgentId agent, int blocksPerLayer, System.Span<KvBlockPool.KvBlock> destination)#blocksPerLayer"] = (f, v) => f.Pool.TryAllocateAllLayers(Agent, (int)v, new KvBlock[2]),
        ["KvBlockPool.BlockPool.CopyBlockIds(KvBlockPool.AgentId agent, int layer, System.Span<int> destination)#layer"] = (f, v) => f.Pool.CopyBlockIds(Agent, (int)v, new int[8]),
        ["KvBlockPool.BlockPool.GetBlockCount(KvBlockPool.AgentId agent, int layer)#layer"] = (f, v) => f.Pool.GetBlockCount(Agent, (int)v),
        ["KvBlockPool.AllocationScope.Allocate(int layer)#layer"] = (f, v) => f.Scope.Allocate((int)v),
        ["KvBlockPool.AllocationScope.Allocate(int layer, int count)#layer"] = (f, v) => f.Scope.Allocate((int)v, 1),
        ["KvBlockPool.AllocationScope.Allocate(int layer, int count)#count"] = (f, v) => f.Scope.Allocate(0, (int)v),
        ["KvBlockPool.AllocationScope.Allocate(int layer, System.Span<KvBlockPool.KvBlock> destination)#layer"] = (f, v) => { f.Scope.Allocate((int)v, new KvBlock[1]); return null; },
        ["KvBlockPool.AllocationScope.TryAllocate(int layer, System.Span<KvBlockPool.KvBlock> destination)#layer"] = (f, v) => f.Scope.TryAllocate((int)v, new KvBlock[1]),
        ["KvBlockPool.AllocationScope.AllocateAllLayers(int blocksPerLayer)#blocksPerLayer"] = (f, v) => f.Scope.AllocateAllLayers((int)v),
        ["KvBlockPool.AllocationScope.AllocateAllLayers(int blocksPerLayer, System.Span<KvBlockPool.KvBlock> destination)#blocksPerLayer"] = (f, v) => { f.Scope.AllocateAllLayers((int)v, new KvBlock[2]); return null; },
        ["KvBlockPool.AllocationScope.TryAllocateAllLayers(int blocksPerLayer, System.Span<KvBlockPool.KvBlock> destination)#blocksPerLayer"] = (f, v) => f.Scope.TryAllocateAllLayers((int)v, new KvBlock[2]),
        ["KvBlockPool.Lifecycle.AgentCacheManager.Admit(KvBlockPool.AgentId agent, int promptTokens)#promptTokens"] = (f, v) => { f.Manager.Admit(new AgentId(9), (int)v); return null; },
        ["KvBlockPool.Lifecycle.AgentCacheManager.TryAdmit(KvBlockPool.AgentId agent, int promptTokens)#promptTokens"] = (f, v) => f.Manager.TryAdmit(new AgentId(9), (int)v),
        ["KvBlockPool.Lifecycle.AgentCacheManager.Append(KvBlockPool.AgentId agent, int tokens = 1)#tokens"] = (f, v) => f.Manager.Append(Agent, (int)v),
        ["KvBlockPool.Lifecycle.AgentCacheManager.TryAppend(KvBlockPool.AgentId agent, int tokens = 1)#tokens"] = (f, v) => f.Manager.TryAppend(Agent, (int)v),
        ["KvBlockPool.Lifecycle.AgentCacheManager.Truncate(KvBlockPool.AgentId agent, int tokens)#tokens"] = (f, v) => f.Manager.Truncate(Agent, (int)v),
        ["KvBlockPool.Lifecycle.AgentCacheManager.PublishComputed(KvBlockPool.AgentId agent, int computedTokens)#computedTokens"] = (f, v) => f.Manager.PublishComputed(Agent, (int)v),
        ["KvBlockPool.BlockPool.Lease(KvBlockPool.AgentId agent, int layer)#layer"] = (f, v) => f.Pool.Lease(Agent, (int)v),
        ["KvBlockPool.Lifecycle.AgentCacheManager.GetTokenSlot(KvBlockPool.AgentId agent, int token)#token"] = (f, v) => f.Manager.GetTokenSlot(Agent, (int)v),
        ["KvBlockPool.Lifecycle.AgentCacheManager.CopyBlockIds(KvBlockPool.AgentId agent, int layer, System.Span<int> destination)#layer"] = (f, v) => f.Manager.CopyBlockIds(Agent, (int)v, new int[8]),
        ["KvBlockPool.Lifecycle.AgentCacheManager.CopyBlocks(KvBlockPool.AgentId agent, int layer, System.Span<KvBlockPool.KvBlock> destination)#layer"] = (f, v) => f.Manager.CopyBlocks(Agent, (int)v, new KvBlock[8]),
        ["KvBlockPool.KvCacheLease.GetBlockCount(int layer)#layer"] = (f, v) => f.Lease.GetBlockCount((int)v),
        ["KvBlockPool.KvCacheLease.GetBlockIds(int layer)#layer"] = (f, v) => f.Lease.GetBlockIds((int)v).Length,
        ["KvBlockPool.KvCacheLease.GetBlock(int layer, int index)#layer"] = (f, v) => f.Lease.GetBlock((int)v, 0),
        ["KvBlockPool.KvCacheLease.GetBlock(int layer, int index)#index"] = (f, v) => f.Lease.GetBlock(0, (int)v),
        ["KvBlockPool.KvCacheLease.GetKeys<T>(int layer, int index)#layer"] = (f, v) => f.Lease.GetKeys<Half>((int)v, 0).Length,
        ["KvBlockPool.KvCacheLease.GetKeys<T>(int layer, int index)#index"] = (f, v) => f.Lease.GetKeys<Half>(0, (int)v).Length,
        ["KvBlockPool.KvCacheLease.GetValues<T>(int layer, int index)#layer"] = (f, v) => f.Lease.GetValues<Half>((int)v, 0).Length,
        ["KvBlockPool.KvCacheLease.GetValues<T>(int layer, int index)#index"] = (f, v) => f.Lease.GetValues<Half>(0, (int)v).Length,
        ["KvBlockPool.KvCacheLease.GetKeyVector<T>(int layer, int token, int head)#layer"] = (f, v) => f.Lease.GetKeyVector<Half>((int)v, 0, 0).Length,
        ["KvBlockPool.KvCacheLease.GetKeyVector<T>(int layer, int token, int head)#token"] = (f, v) => f.Lease.GetKeyVector<Half>(0, (int)v, 0).Length,
        ["KvBlockPool.KvCacheLease.GetKeyVector<T>(int layer, int token, int head)#head"] = (f, v) => f.Lease.GetKeyVector<Half>(0, 0, (int)v).Length,
        ["KvBlockPool.KvCacheLease.GetValueVector<T>(int layer, int token, int head)#layer"] = (f, v) => f.Lease.GetValueVector<Half>((int)v, 0, 0).Length,
        ["KvBlockPool.KvCacheLease.GetValueVector<T>(int layer, int token, int head)#token"] = (f, v) => f.Lease.GetValueVector<Half>(0, (int)v, 0).Length,
        ["KvBlockPool.KvCacheLease.GetValueVector<T>(int layer, int token, int head)#head"] = (f, v) => f.Lease.GetValueVector<Half>(0, 0, (int)v).Length,
        ["KvBlockPool.KvCacheLease.GetPointer(int layer, int index)#layer"] = (f, v) => f.LeasePointer((int)v, 0),
        ["KvBlockPool.KvCacheLease.GetPointer(int layer, int index)#index"] = (f, v) => f.LeasePointer(0, (int)v),
        ["KvBlockPool.KvBlockAddressing.GetBlockAddress(int blockId)#blockId"] = (f, v) => f.Lease.Addressing.GetBlockAddress((int)v),
        ["KvBlockPool.KvCacheSpec.GetVectorOffset(int tokenSlot, int head)#tokenSlot"] = (f, v) => f.Pool.Spec.GetVectorOffset((int)v, 0),
        ["KvBlockPool.KvCacheSpec.GetVectorOffset(int tokenSlot, int head)#head"] = (f, v) => f.Pool.Spec.GetVectorOffset(0, (int)v),
        ["KvBlockPool.KvCacheSpec.KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvBlockPool.KvElementType elementType, KvBlockPool.KvBlockLayout layout)#layers"] = (_, v) => new KvCacheSpec((int)v, 2, 8, 4, KvElementType.Float16, KvBlockLayout.TokenMajor),
        ["KvBlockPool.KvCacheSpec.KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvBlockPool.KvElementType elementType, KvBlockPool.KvBlockLayout layout)#kvHeads"] = (_, v) => new KvCacheSpec(2, (int)v, 8, 4, KvElementType.Float16, KvBlockLayout.TokenMajor),
        ["KvBlockPool.KvCacheSpec.KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvBlockPool.KvElementType elementType, KvBlockPool.KvBlockLayout layout)#headDim"] = (_, v) => new KvCacheSpec(2, 2, (int)v, 4, KvElementType.Float16, KvBlockLayout.TokenMajor),
        ["KvBlockPool.KvCacheSpec.KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvBlockPool.KvElementType elementType, KvBlockPool.KvBlockLayout layout)#tokensPerBlock"] = (_, v) => new KvCacheSpec(2, 2, 8, (int)v, KvElementType.Float16, KvBlockLayout.TokenMajor),
        ["KvBlockPool.KvCacheSpec.BlocksForTokens(long tokens)#tokens"] = (f, v) => f.Pool.Spec.BlocksForTokens(v == int.MaxValue ? long.MaxValue : v == int.MinValue ? long.MinValue : v),
        ["KvBlockPool.KvCacheSpec.KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvBlockPool.KvElementType elementType)#layers"] = (_, v) => new KvCacheSpec((int)v, 2, 8, 4, KvElementType.Float16),
        ["KvBlockPool.KvCacheSpec.KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvBlockPool.KvElementType elementType)#kvHeads"] = (_, v) => new KvCacheSpec(2, (int)v, 8, 4, KvElementType.Float16),
        ["KvBlockPool.KvCacheSpec.KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvBlockPool.KvElementType elementType)#headDim"] = (_, v) => new KvCacheSpec(2, 2, (int)v, 4, KvElementType.Float16),
        ["KvBlockPool.KvCacheSpec.KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvBlockPool.KvElementType elementType)#tokensPerBlock"] = (_, v) => new KvCacheSpec(2, 2, 8, (int)v, KvElementType.Float16),
        ["KvBlockPool.KvCacheSpec.Llama3_70B(KvBlockPool.KvElementType elementType = KvBlockPool.KvElementType.Float16, int tokensPerBlock = 16)#tokensPerBlock"] = (_, v) => KvCacheSpec.Llama3_70B(tokensPerBlock: (int)v),
        ["KvBlockPool.KvCacheSpec.Llama3_8B(KvBlockPool.KvElementType elementType = KvBlockPool.KvElementType.Float16, int tokensPerBlock = 16)#tokensPerBlock"] = (_, v) => KvCacheSpec.Llama3_8B(tokensPerBlock: (int)v),
        ["KvBlockPool.KvCacheSpec.Mistral7B(KvBlockPool.KvElementType elementType = KvBlockPool.KvElementType.Float16, int tokensPerBlock = 16)#tokensPerBlock"] = (_, v) => KvCacheSpec.Mistral7B(tokensPerBlock: (int)v),
        ["KvBlockPool.KvCacheSpec.Qwen25_7B(KvBlockPool.KvElementType elementType = KvBlockPool.KvElementType.BFloat16, int tokensPerBlock = 16)#tokensPerBlock"] = (_, v) => KvCacheSpec.Qwen25_7B(tokensPerBlock: (int)v),
        ["KvBlockPool.KvCacheSpec.TinyLlama_1_1B(KvBlockPool.KvElementType elementType = KvBlockPool.KvElementType.Float16, int tokensPerBlock = 16)#tokensPerBlock"] = (_, v) => KvCacheSpec.TinyLlama_1_1B(tokensPerBlock: (int)v),
    };

    /// <summary>Int parameters that are not counts (a token id is any non-negative value): tested by <see cref="A_negative_token_id_is_refused_and_any_other_is_kept"/>.</summary>
    private static readonly HashSet<string> NotCounts = new(StringComparer.Ordinal)
    {
        "KvBlockPool.Lifecycle.AgentCacheManager.AppendToken(KvBlockPool.AgentId agent, int tokenId)#tokenId",
        "KvBlockPool.Lifecycle.AgentCacheManager.TryAppendToken(KvBlockPool.AgentId agent, int tokenId, out KvBlockPool.Lifecycle.KvTokenSlot slot)#tokenId",
    };

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void A_negative_token_id_is_refused_and_any_other_is_kept(int tokenId)
    {
        using var fixture = new Fixture();
        string before = fixture.Describe();
        Assert.Throws<ArgumentOutOfRangeException>(() => fixture.Manager.AppendToken(Agent, tokenId));
        Assert.Throws<ArgumentOutOfRangeException>(() => fixture.Manager.TryAppendToken(Agent, tokenId, out _));
        Assert.Equal(before, fixture.Describe());
        fixture.Manager.AppendToken(Agent, int.MaxValue);
        Assert.True(fixture.Manager.TryAppendToken(Agent, int.MaxValue, out _));
        Assert.Equal(8, fixture.Manager.GetInfo(Agent).Tokens);
    }

    public static TheoryData<string, long> HostileCalls()
    {
        var data = new TheoryData<string, long>();
        foreach (string member in Calls.Keys)
        {
            foreach (long value in HostileValues)
            {
                data.Add(member, value);
            }
        }

        return data;
    }

    [Fact]
    public void Every_public_member_that_takes_a_count_is_called_here()
    {
        string api = File.ReadAllText(Path.Combine(QuickStartTests.RepositoryRoot(), "src", "KvBlockPool", "PublicAPI.Unshipped.txt"));
        var members = new List<string>();
        foreach (string line in api.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Match member = ApiMember().Match(line);
            if (!member.Success || !CountedTypes().IsMatch(member.Groups["signature"].Value))
            {
                continue;
            }

            foreach (Match parameter in CountParameter().Matches(member.Groups["parameters"].Value))
            {
                members.Add($"{member.Groups["signature"].Value}#{parameter.Groups["name"].Value}");
            }
        }

        Assert.True(members.Count >= 20, $"only {members.Count} counted members found: the API file's format changed?");
        members.RemoveAll(NotCounts.Contains);
        Assert.Empty(members.Except(Calls.Keys));
        Assert.Empty(Calls.Keys.Except(members)); // no stale entry for a member that is gone
    }

    [Theory]
    [MemberData(nameof(HostileCalls))]
    public void A_hostile_count_is_refused_before_anything_is_built_or_changed(string member, long value)
    {
        using var fixture = new Fixture();
        string before = fixture.Describe();
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        object? result = null;
        Exception? error = Record.Exception(() => result = Calls[member](fixture, value));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        if (error is null && member.StartsWith("KvBlockPool.KvCacheSpec.BlocksForTokens(", StringComparison.Ordinal))
        {
            // A computation, not an allocation: a large count that has an answer gets the right one.
            Assert.Equal((int)((value + 3) / 4), result);
        }
        else if (error is null)
        {
            // Only a Try… may decline without an exception, and only by returning false.
            Assert.True(result is false, $"{member} accepted {value} and returned {result ?? "nothing"}");
        }
        else
        {
            Assert.True(
                error is ArgumentException or BlockPoolExhaustedException,
                $"{member} refused {value} with {error.GetType().Name}: {error.Message}");
        }

        Assert.Equal(before, fixture.Describe());
        Assert.Null(fixture.Pool.FindInvariantViolation());

        // The state snapshots and an exception take a few KB; an array built for the hostile count would take megabytes.
        Assert.True(allocated < 512 * 1024, $"{member}({value}) allocated {allocated} bytes before it was refused");
    }

    [GeneratedRegex(@"^(?:static )?(?<signature>KvBlockPool\.[\w.<>]+\((?<parameters>[^)]*)\)) -> ")]
    private static partial Regex ApiMember();

    [GeneratedRegex(@"^KvBlockPool\.(BlockPool|AllocationScope|Lifecycle\.AgentCacheManager|KvCacheSpec|KvCacheLease|KvBlockAddressing)\.")]
    private static partial Regex CountedTypes();

    [GeneratedRegex(@"\b(int|long) (?<name>\w+)")]
    private static partial Regex CountParameter();

    /// <summary>A pool with an agent admitted through the manager, and an open scope holding a block.</summary>
    private sealed class Fixture : IDisposable
    {
        public Fixture()
        {
            Pool = TestPools.Create(capacity: 16, layers: 2);
            Manager = new AgentCacheManager(Pool);
            Manager.Admit(Agent, promptTokens: 6); // 2 blocks per layer
            Scope = Pool.BeginScope(new AgentId(5));
            Scope.Allocate(1);
            Lease = Pool.Lease(Agent);
        }

        public KvCacheLease Lease { get; }

        public unsafe nint LeasePointer(int layer, int index) => (nint)Lease.GetPointer(layer, index);

        public BlockPool Pool { get; }

        public AgentCacheManager Manager { get; }

        public AllocationScope Scope { get; }

        public string Describe() => $"{Pool.DescribeState()}|{Manager.DescribeState()}|{Scope.BlockCount}";

        public void Dispose()
        {
            Lease.Dispose();
            Scope.Dispose();
            Manager.Dispose();
            Pool.Dispose();
        }
    }
}
