namespace KvBlockPool.Tests.DataPlane;

public sealed class LayoutTests
{
    [Fact]
    public void Head_major_is_the_default_and_puts_one_heads_tokens_together()
    {
        var spec = new KvCacheSpec(2, 4, 8, 16, KvElementType.Float16);
        Assert.Equal(KvBlockLayout.HeadMajor, spec.Layout);
        Assert.Equal((8, 128, 512), (spec.TokenStride, spec.HeadStride, spec.ElementsPerHalf));
        Assert.Equal(0, spec.GetVectorOffset(0, 0));
        Assert.Equal(8, spec.GetVectorOffset(1, 0));
        Assert.Equal(128, spec.GetVectorOffset(0, 1));
        Assert.Equal((3 * 128) + (15 * 8), spec.GetVectorOffset(15, 3));
    }

    [Fact]
    public void Token_major_puts_one_tokens_heads_together()
    {
        var spec = new KvCacheSpec(2, 4, 8, 16, KvElementType.Float16, KvBlockLayout.TokenMajor);
        Assert.Equal((32, 8), (spec.TokenStride, spec.HeadStride));
        Assert.Equal(32, spec.GetVectorOffset(1, 0));
        Assert.Equal(8, spec.GetVectorOffset(0, 1));
        Assert.Equal((15 * 32) + (3 * 8), spec.GetVectorOffset(15, 3));
        Assert.Contains("token-major", spec.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_layout_is_part_of_a_specs_identity()
    {
        var head = new KvCacheSpec(2, 4, 8, 16, KvElementType.Float16);
        KvCacheSpec token = head.WithLayout(KvBlockLayout.TokenMajor);
        Assert.NotEqual(head, token);
        Assert.True(head != token);
        Assert.Equal(head, token.WithLayout(KvBlockLayout.HeadMajor));
        Assert.Equal(head.GetHashCode(), token.WithLayout(KvBlockLayout.HeadMajor).GetHashCode());
        Assert.DoesNotContain("major", head.ToString(), StringComparison.Ordinal);
        Assert.Equal(head.BytesPerBlock, token.BytesPerBlock);
    }

    [Fact]
    public void Slots_heads_and_layouts_outside_the_spec_are_refused()
    {
        var spec = new KvCacheSpec(2, 4, 8, 16, KvElementType.Float16);
        Assert.Contains("0 to 15", Assert.Throws<ArgumentOutOfRangeException>(() => spec.GetVectorOffset(16, 0)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => spec.GetVectorOffset(-1, 0));
        Assert.Contains("0 to 3", Assert.Throws<ArgumentOutOfRangeException>(() => spec.GetVectorOffset(0, 4)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => spec.GetVectorOffset(0, int.MinValue));
        Assert.Contains("HeadMajor, TokenMajor", Assert.Throws<ArgumentOutOfRangeException>(() => new KvCacheSpec(2, 4, 8, 16, KvElementType.Float16, (KvBlockLayout)2)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => spec.WithLayout((KvBlockLayout)(-1)));
    }
}
