namespace KvBlockPool.Tests.Core;

public sealed class KvCacheSpecTests
{
    [Theory]
    [InlineData(KvElementType.Float32, 4)]
    [InlineData(KvElementType.Float16, 2)]
    [InlineData(KvElementType.BFloat16, 2)]
    [InlineData(KvElementType.Float8, 1)]
    [InlineData(KvElementType.Int8, 1)]
    public void Sizes_follow_from_the_dimensions_and_element_type(KvElementType type, int elementSize)
    {
        var spec = new KvCacheSpec(layers: 3, kvHeads: 2, headDim: 8, tokensPerBlock: 4, type);
        Assert.Equal(elementSize, spec.ElementSize);
        Assert.Equal(elementSize, KvCacheSpec.ElementSizeOf(type));
        Assert.Equal(4 * 2 * 8 * elementSize, spec.BytesPerHalf);
        Assert.Equal(2 * spec.BytesPerHalf, spec.BytesPerBlock);
        Assert.Equal(2L * 2 * 8 * elementSize * 3, spec.BytesPerToken);
        Assert.Equal((3, 2, 8, 4, type), (spec.Layers, spec.KvHeads, spec.HeadDim, spec.TokensPerBlock, spec.ElementType));
    }

    [Theory]
    [InlineData(0, 1, 1, 1, "layers", "between 1 and 4096")]
    [InlineData(4097, 1, 1, 1, "layers", "between 1 and 4096")]
    [InlineData(1, 0, 1, 1, "kvHeads", "between 1 and 4096")]
    [InlineData(1, 4097, 1, 1, "kvHeads", "between 1 and 4096")]
    [InlineData(1, 1, -5, 1, "headDim", "between 1 and 65536")]
    [InlineData(1, 1, 65537, 1, "headDim", "between 1 and 65536")]
    [InlineData(1, 1, 1, 0, "tokensPerBlock", "between 1 and 65536")]
    [InlineData(1, 1, 1, 65537, "tokensPerBlock", "between 1 and 65536")]
    public void A_dimension_out_of_range_is_rejected_naming_it(int layers, int heads, int dim, int tokens, string parameter, string message)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new KvCacheSpec(layers, heads, dim, tokens, KvElementType.Float16));
        Assert.Equal(parameter, error.ParamName);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_block_larger_than_a_span_can_hold_is_rejected_with_its_size()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new KvCacheSpec(1, 4096, 65536, 16, KvElementType.Float32));
        Assert.Equal("tokensPerBlock", error.ParamName);
        Assert.Contains("34359738368 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("Use fewer tokens per block", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_undefined_element_type_is_rejected_listing_the_valid_ones()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new KvCacheSpec(1, 1, 1, 1, (KvElementType)99));
        Assert.Equal("elementType", error.ParamName);
        Assert.Contains("Float32, Float16, BFloat16, Float8, Int8", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => KvCacheSpec.ElementSizeOf((KvElementType)(-1)));
    }

    [Fact]
    public void Presets_have_the_published_model_shapes()
    {
        Assert.Equal((32, 8, 128, 16, KvElementType.Float16), Shape(KvCacheSpec.Llama3_8B()));
        Assert.Equal((80, 8, 128, 16, KvElementType.Float16), Shape(KvCacheSpec.Llama3_70B()));
        Assert.Equal((32, 8, 128, 16, KvElementType.Float16), Shape(KvCacheSpec.Mistral7B()));
        Assert.Equal((28, 4, 128, 16, KvElementType.BFloat16), Shape(KvCacheSpec.Qwen25_7B()));
        Assert.Equal((22, 4, 64, 16, KvElementType.Float16), Shape(KvCacheSpec.TinyLlama_1_1B()));
        Assert.Equal((32, 8, 128, 32, KvElementType.Float8), Shape(KvCacheSpec.Llama3_8B(KvElementType.Float8, tokensPerBlock: 32)));
        Assert.Equal(65536, KvCacheSpec.Llama3_8B().BytesPerBlock);
        Assert.Equal(131072, KvCacheSpec.Llama3_8B().BytesPerToken);
    }

    [Fact]
    public void Specs_are_equal_by_value()
    {
        KvCacheSpec a = TestPools.Spec(), b = TestPools.Spec(), c = TestPools.Spec(layers: 3);
        KvCacheSpec? none = null;
        Assert.True(a == b);
        Assert.False(a != b);
        Assert.True(a.Equals((object)b));
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.True(a != c);
        Assert.False(a.Equals(none));
        Assert.False(a.Equals("a spec"));
        Assert.True(none == null);
        Assert.False(none == a);
        Assert.NotEqual(a, new KvCacheSpec(2, 2, 8, 4, KvElementType.BFloat16));
        Assert.NotEqual(a, new KvCacheSpec(2, 1, 8, 4, KvElementType.Float16));
        Assert.NotEqual(a, new KvCacheSpec(2, 2, 16, 4, KvElementType.Float16));
        Assert.NotEqual(a, new KvCacheSpec(2, 2, 8, 8, KvElementType.Float16));
    }

    [Fact]
    public void ToString_describes_the_shape_and_block_size()
    {
        Assert.Equal("32 layers x 8 KV heads x 128 dims, 16 tokens/block, Float16 (65536 B/block)", KvCacheSpec.Llama3_8B().ToString());
    }

    [Fact]
    public void Blocks_for_tokens_rounds_up_and_rejects_negative_counts()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        Assert.Equal(4, spec.BlocksForTokens(64));
        Assert.Equal(5, spec.BlocksForTokens(65));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => spec.BlocksForTokens(-1));
        Assert.Equal("tokens", error.ParamName);
    }

    private static (int, int, int, int, KvElementType) Shape(KvCacheSpec s) => (s.Layers, s.KvHeads, s.HeadDim, s.TokensPerBlock, s.ElementType);
}
