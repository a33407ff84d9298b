using System.Reflection;
using KvBlockPool.Core;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// Every other test trusts <c>FindInvariantViolation</c> to notice a broken pool. These break a pool on purpose,
/// one invariant at a time, and check that the checker names what is wrong.
/// </summary>
public sealed class InvariantCheckerTests
{
    private static readonly AgentId A = new(1);
    private static readonly AgentId B = new(2);

    public static TheoryData<string, string> Corruptions() => new()
    {
        { "duplicate on the free stack", "is on the free stack twice" },
        { "free block with an owner", "free block 7 has owner 0" },
        { "record in the wrong slot", "record in slot 0 thinks it is in slot 5" },
        { "agent record not registered", "agent 1 has a record that is not registered" },
        { "agent with no blocks", "agent 1 is registered with no blocks" },
        { "block in two lists", "block 0 is in two places (second: agent 2 layer 0)" },
        { "listed block with the wrong owner", "block 0 listed for agent 1 has owner -1" },
        { "block count off", "agent 1 counts 3 blocks (0 shared) but lists 2 (0 shared)" },
        { "block nowhere", "block 3 is nowhere (owner -1)" },
        { "in transit without a free", "1 blocks are in transit but no free is in progress" },
        { "in transit during a free", "the published counts differ from the free stack" },
        { "published counts", "the published counts differ from the free stack" },
        { "high-water mark", "high-water mark 0 is below the allocated count 3" },
        { "agent count", "the published agent count is wrong" },
        { "scope count", "0 scope records are registered but 1 scopes are counted open" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void The_checker_names_each_broken_invariant(string corruption, string expected)
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        pool.Allocate(A, 0, 2);
        pool.Allocate(B, 1);
        Assert.Null(pool.FindInvariantViolation());
        OwnerRecord a = Agents(pool)[A], b = Agents(pool)[B];
        object table = Field<object>(pool, "_table"), owners = Field<object>(pool, "_owners");
        object counts = Field<object>(pool, "_counts"), guard = Field<object>(pool, "_guard");
        int[] freeStack = Field<int[]>(table, "_freeStack");
        int freeCount = Field<int>(table, "_freeCount");
        int[] owner = Field<int[]>(table, "_owner");
        switch (corruption)
        {
            case "duplicate on the free stack": freeStack[0] = freeStack[1]; break;
            case "free block with an owner": owner[7] = 0; break;
            case "record in the wrong slot": a.Slot = 5; break;
            case "agent record not registered": Agents(pool).Remove(A); break;
            case "agent with no blocks": (a.Layers[0].Count, a.BlockCount) = (0, 0); break;
            case "block in two lists": b.Layers[0].EnsureRoomFor(1); b.Layers[0].AddUnchecked(0); break;
            case "listed block with the wrong owner": owner[0] = -1; break;
            case "block count off": a.BlockCount = 3; break;
            case "block nowhere": SetField(table, "_freeCount", freeCount - 1); break;
            case "in transit without a free": SetField(table, "_freeCount", freeCount - 1); owner[3] = -2; break;
            case "in transit during a free": SetField(table, "_freeCount", freeCount - 1); owner[3] = -2; SetField(guard, "_releasesInFlight", 1); break;
            case "published counts": SetField(counts, "_counts", (8L << 32) | 7); break;
            case "high-water mark": SetField(counts, "_highWater", 0); break;
            case "agent count": SetField(counts, "_agents", 5); break;
            case "scope count": SetField(owners, "_openScopes", 1); break;
            default: throw new ArgumentOutOfRangeException(nameof(corruption));
        }

        string? violation = pool.FindInvariantViolation();
        SetField(guard, "_releasesInFlight", 0); // let Dispose finish whatever happens below
        Assert.NotNull(violation);
        Assert.Contains(expected, violation, StringComparison.Ordinal);
    }

    [Fact]
    public void A_free_that_meets_an_owner_slot_with_no_record_says_the_owner_is_unknown()
    {
        using BlockPool pool = TestPools.Create(capacity: 8);
        pool.Allocate(A, 0);
        KvBlock theirs = pool.Allocate(B, 0);
        Field<OwnerRecord?[]>(Field<object>(pool, "_owners"), "_records")[Agents(pool)[B].Slot] = null;
        var error = Assert.Throws<BlockOwnershipException>(() => pool.Free(A, theirs));
        Assert.Contains("is held by an unknown owner", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_test_hooks_read_back_what_was_set()
    {
        using BlockPool pool = TestPools.Create(capacity: 8, layers: 32);
        Assert.Equal(1 << 26, pool.OwnerSlotLimit); // 5 layer bits
        pool.OwnerSlotLimit = 3;
        Assert.Equal(3, pool.OwnerSlotLimit);
        pool.Allocate(A, 31);
        pool.Free(A, pool.Allocate(A, 0, 2)); // a batch free marks with the epoch; the one-block path needs no marks
        Assert.Equal(1, pool.FreeEpoch);
        pool.FreeEpoch = 40;
        Assert.Equal(40, pool.FreeEpoch);
    }

    private static Dictionary<AgentId, OwnerRecord> Agents(BlockPool pool) => Field<Dictionary<AgentId, OwnerRecord>>(Field<object>(pool, "_owners"), "_agents");

    // The pool's state lives in its components (BlockTable, OwnerTable, PublishedCounts, AccessGuard): reach into
    // the one that owns the field.
    private static T Field<T>(object owner, string name) => (T)FieldInfo(owner, name).GetValue(owner)!;

    private static void SetField(object owner, string name, object value) => FieldInfo(owner, name).SetValue(owner, value);

    private static FieldInfo FieldInfo(object owner, string name) =>
        owner.GetType().GetField(name, BindingFlags.NonPublic | BindingFlags.Instance) ?? throw new MissingFieldException(owner.GetType().Name, name);
}
