using KvBlockPool.Tests.Core;

namespace KvBlockPool.Tests.DataPlane;

public sealed class TypedAccessTests
{
    private static readonly AgentId Agent = new(31);

    public static TheoryData<KvElementType, string> Fitting() => new()
    {
        { KvElementType.Float32, "float" },
        { KvElementType.Float16, "Half" },
        { KvElementType.Float16, "ushort" },
        { KvElementType.BFloat16, "ushort" },
        { KvElementType.Int8, "sbyte" },
        { KvElementType.Float8, "byte" },
        { KvElementType.Float32, "byte" },
    };

    [Theory]
    [MemberData(nameof(Fitting))]
    public void A_type_that_fits_the_spec_views_the_same_bytes(KvElementType type, string view)
    {
        using BlockPool pool = TestPools.Create(capacity: 4, spec: TestPools.Spec(elementType: type));
        KvBlock block = pool.Allocate(Agent, 0);
        int half = pool.Spec.BytesPerHalf;
        (int key, int value, int whole) = view switch
        {
            "float" => Lengths<float>(pool, block),
            "Half" => Lengths<Half>(pool, block),
            "ushort" => Lengths<ushort>(pool, block),
            "sbyte" => Lengths<sbyte>(pool, block),
            _ => Lengths<byte>(pool, block),
        };
        int size = view switch { "float" => 4, "Half" or "ushort" => 2, _ => 1 };
        Assert.Equal((half / size, half / size, 2 * half / size), (key, value, whole));
    }

    [Fact]
    public void Typed_spans_cover_the_key_and_value_halves()
    {
        using BlockPool pool = TestPools.Create(capacity: 4, spec: TestPools.Spec(elementType: KvElementType.Float32));
        KvBlock block = pool.Allocate(Agent, 1);
        pool.GetKeySpan<float>(block).Fill(1.5f);
        pool.GetValueSpan<float>(block).Fill(-2f);
        Span<float> whole = pool.GetBlockSpan<float>(block);
        Assert.Equal(-1, whole[..(whole.Length / 2)].IndexOfAnyExcept(1.5f));
        Assert.Equal(-1, whole[(whole.Length / 2)..].IndexOfAnyExcept(-2f));
    }

    public static TheoryData<KvElementType, string> Mismatched() => new()
    {
        { KvElementType.Float32, "Half" },
        { KvElementType.Float32, "ushort" },
        { KvElementType.Float16, "float" },
        { KvElementType.BFloat16, "Half" },
        { KvElementType.Int8, "float" },
        { KvElementType.Float8, "sbyte" },
        { KvElementType.Float16, "long" },
    };

    [Theory]
    [MemberData(nameof(Mismatched))]
    public void A_type_that_does_not_fit_is_refused_and_changes_nothing(KvElementType type, string view)
    {
        using BlockPool pool = TestPools.Create(capacity: 4, spec: TestPools.Spec(elementType: type));
        KvBlock block = pool.Allocate(Agent, 0);
        Action[] calls = view switch
        {
            "float" => Calls<float>(pool, block),
            "Half" => Calls<Half>(pool, block),
            "ushort" => Calls<ushort>(pool, block),
            "sbyte" => Calls<sbyte>(pool, block),
            _ => Calls<long>(pool, block),
        };
        foreach (Action call in calls)
        {
            ElementTypeMismatchException error = PoolAssert.ThrowsAndChangesNothing<ElementTypeMismatchException>(pool, call, type.ToString(), "byte for raw bytes");
            Assert.Equal(type, error.ElementType);
            Assert.Equal(view, error.Requested.Name switch { "Single" => "float", "UInt16" => "ushort", "SByte" => "sbyte", "Int64" => "long", string name => name });
        }
    }

    [Fact]
    public void A_typed_view_checks_the_handle_first()
    {
        using BlockPool pool = TestPools.Create(capacity: 4);
        KvBlock block = pool.Allocate(Agent, 0);
        pool.Free(Agent, block);
        PoolAssert.ThrowsAndChangesNothing<StaleBlockHandleException>(pool, () => pool.GetKeySpan<Half>(block));
        PoolAssert.ThrowsAndChangesNothing<ForeignBlockHandleException>(pool, () => pool.GetValueSpan<Half>(default));
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.GetBlockSpan<Half>(block).Length);
    }

    private static (int Key, int Value, int Whole) Lengths<T>(BlockPool pool, KvBlock block)
        where T : unmanaged =>
        (pool.GetKeySpan<T>(block).Length, pool.GetValueSpan<T>(block).Length, pool.GetBlockSpan<T>(block).Length);

    private static Action[] Calls<T>(BlockPool pool, KvBlock block)
        where T : unmanaged
    {
        pool.AllocateAllLayers(new AgentId(99), 1);
        return
        [
            () => _ = pool.GetKeySpan<T>(block).Length,
            () => _ = pool.GetValueSpan<T>(block).Length,
            () => _ = pool.GetBlockSpan<T>(block).Length,
            () =>
            {
                using KvCacheLease lease = pool.Lease(new AgentId(99));
                _ = lease.GetKeyVector<T>(0, 0, 0).Length;
            },
        ];
    }
}
