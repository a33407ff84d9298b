using System.Globalization;

namespace KvBlockPool;

/// <summary>
/// The shape of a model's KV cache: how many layers, how many key/value heads of what size, how many
/// tokens one block holds, in which element type and layout. One block holds the K and V tensors of
/// <see cref="TokensPerBlock"/> tokens for one layer: first the K half, then the V half, each laid out as
/// <see cref="Layout"/> says (see <see cref="GetVectorOffset"/>).
/// </summary>
/// <remarks>
/// Every size is computed once, with overflow checks, when the spec is created; a spec whose block would
/// not fit in a <see cref="Span{T}"/> (more than <see cref="int.MaxValue"/> bytes) is rejected.
/// Two specs are equal when all five dimensions and the layout are equal.
/// </remarks>
public sealed partial class KvCacheSpec : IEquatable<KvCacheSpec>
{
    /// <summary>The largest number of layers a spec accepts.</summary>
    public const int MaxLayers = 4096;

    /// <summary>The largest number of key/value heads a spec accepts.</summary>
    public const int MaxKvHeads = 4096;

    /// <summary>The largest head dimension a spec accepts.</summary>
    public const int MaxHeadDim = 65536;

    /// <summary>The largest number of tokens per block a spec accepts.</summary>
    public const int MaxTokensPerBlock = 65536;

    /// <summary>Creates and validates a spec.</summary>
    /// <param name="layers">Number of transformer layers, 1 to <see cref="MaxLayers"/>.</param>
    /// <param name="kvHeads">Number of key/value heads per layer (after grouped-query sharing), 1 to <see cref="MaxKvHeads"/>.</param>
    /// <param name="headDim">Elements per head, 1 to <see cref="MaxHeadDim"/>.</param>
    /// <param name="tokensPerBlock">Tokens one block holds, 1 to <see cref="MaxTokensPerBlock"/>.</param>
    /// <param name="elementType">The element type of the cached tensors.</param>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is out of range, or one block would exceed <see cref="int.MaxValue"/> bytes.</exception>
    /// <remarks>The layout is <see cref="KvBlockLayout.HeadMajor"/>.</remarks>
    public KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvElementType elementType)
        : this(layers, kvHeads, headDim, tokensPerBlock, elementType, KvBlockLayout.HeadMajor)
    {
    }

    /// <summary>Creates and validates a spec with an explicit layout inside each block half.</summary>
    /// <param name="layers">Number of transformer layers, 1 to <see cref="MaxLayers"/>.</param>
    /// <param name="kvHeads">Number of key/value heads per layer (after grouped-query sharing), 1 to <see cref="MaxKvHeads"/>.</param>
    /// <param name="headDim">Elements per head, 1 to <see cref="MaxHeadDim"/>.</param>
    /// <param name="tokensPerBlock">Tokens one block holds, 1 to <see cref="MaxTokensPerBlock"/>.</param>
    /// <param name="elementType">The element type of the cached tensors.</param>
    /// <param name="layout">Where each token's and head's elements lie inside a half.</param>
    /// <exception cref="ArgumentOutOfRangeException">A dimension or the layout is out of range, or one block would exceed <see cref="int.MaxValue"/> bytes.</exception>
    public KvCacheSpec(int layers, int kvHeads, int headDim, int tokensPerBlock, KvElementType elementType, KvBlockLayout layout)
    {
        if (layout is not KvBlockLayout.HeadMajor and not KvBlockLayout.TokenMajor)
        {
            throw new ArgumentOutOfRangeException(nameof(layout), layout, $"Unknown layout. Use one of: {string.Join(", ", Enum.GetNames<KvBlockLayout>())}.");
        }

        ThrowIfOutOfRange(layers, MaxLayers, nameof(layers));
        ThrowIfOutOfRange(kvHeads, MaxKvHeads, nameof(kvHeads));
        ThrowIfOutOfRange(headDim, MaxHeadDim, nameof(headDim));
        ThrowIfOutOfRange(tokensPerBlock, MaxTokensPerBlock, nameof(tokensPerBlock));
        int elementSize = ElementSizeOf(elementType);

        long half = checked((long)tokensPerBlock * kvHeads * headDim * elementSize);
        long block = checked(half * 2);
        if (block > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(
                nameof(tokensPerBlock),
                tokensPerBlock,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"One block would take {block} bytes (2 x {tokensPerBlock} tokens x {kvHeads} heads x {headDim} dims x {elementSize} bytes), more than the {int.MaxValue} bytes a block may span. Use fewer tokens per block."));
        }

        Layers = layers;
        KvHeads = kvHeads;
        HeadDim = headDim;
        TokensPerBlock = tokensPerBlock;
        ElementType = elementType;
        Layout = layout;
        ElementSize = elementSize;
        // Element distances inside a half; both fit an int because a half does.
        TokenStride = layout == KvBlockLayout.HeadMajor ? headDim : kvHeads * headDim;
        HeadStride = layout == KvBlockLayout.HeadMajor ? tokensPerBlock * headDim : headDim;
        BytesPerHalf = (int)half;
        BytesPerBlock = (int)block;
        BytesPerToken = checked((long)kvHeads * headDim * elementSize * 2 * layers);
    }

    /// <summary>Number of transformer layers; each layer has its own blocks.</summary>
    public int Layers { get; }

    /// <summary>Number of key/value heads per layer.</summary>
    public int KvHeads { get; }

    /// <summary>Elements per head.</summary>
    public int HeadDim { get; }

    /// <summary>Tokens one block holds.</summary>
    public int TokensPerBlock { get; }

    /// <summary>The element type of the cached tensors.</summary>
    public KvElementType ElementType { get; }

    /// <summary>Where each token's and head's elements lie inside a block half.</summary>
    public KvBlockLayout Layout { get; }

    /// <summary>Elements between one token slot's vector and the next token slot's, for the same head, inside a half.</summary>
    public int TokenStride { get; }

    /// <summary>Elements between one head's vector and the next head's, for the same token slot, inside a half.</summary>
    public int HeadStride { get; }

    /// <summary>Elements in one half (K or V) of a block: tokens x heads x head dim.</summary>
    public int ElementsPerHalf => BytesPerHalf / ElementSize;

    /// <summary>
    /// The element offset, inside a block half, of the <see cref="HeadDim"/> contiguous elements of head
    /// <paramref name="head"/> for token slot <paramref name="tokenSlot"/>: <c>head * HeadStride + tokenSlot * TokenStride</c>.
    /// </summary>
    /// <param name="tokenSlot">The token's slot in its block, 0 to <see cref="TokensPerBlock"/> - 1.</param>
    /// <param name="head">The KV head, 0 to <see cref="KvHeads"/> - 1.</param>
    /// <returns>An offset in elements (multiply by <see cref="ElementSize"/> for bytes).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The slot or the head is outside the block.</exception>
    public int GetVectorOffset(int tokenSlot, int head)
    {
        if ((uint)tokenSlot >= (uint)TokensPerBlock)
        {
            ThrowSlotOutOfRange(tokenSlot);
        }

        if ((uint)head >= (uint)KvHeads)
        {
            ThrowHeadOutOfRange(head);
        }

        return (head * HeadStride) + (tokenSlot * TokenStride);
    }

    /// <summary>Bytes per element of <see cref="ElementType"/>.</summary>
    public int ElementSize { get; }

    /// <summary>Bytes of one half (K or V) of one block: tokens x heads x head dim x element size.</summary>
    public int BytesPerHalf { get; }

    /// <summary>Bytes of one block, K and V halves together.</summary>
    public int BytesPerBlock { get; }

    /// <summary>Bytes one token occupies across all layers, K and V (what a host budgets per token).</summary>
    public long BytesPerToken { get; }

    /// <summary>Blocks needed per layer to hold <paramref name="tokens"/> tokens.</summary>
    /// <param name="tokens">A token count, zero or more.</param>
    /// <returns>The number of blocks, rounding up.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokens"/> is negative.</exception>
    public int BlocksForTokens(long tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        // Divide first: tokens + TokensPerBlock - 1 overflows for token counts near long.MaxValue.
        long blocks = (tokens / TokensPerBlock) + (tokens % TokensPerBlock == 0 ? 0 : 1);
        if (blocks > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "That many tokens needs more than int.MaxValue blocks per layer.");
        }

        return (int)blocks;
    }

    /// <summary>Returns the size in bytes of one element of <paramref name="elementType"/>.</summary>
    /// <param name="elementType">An element type.</param>
    /// <returns>4, 2 or 1.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a defined value.</exception>
    public static int ElementSizeOf(KvElementType elementType) => elementType switch
    {
        KvElementType.Float32 => 4,
        KvElementType.Float16 or KvElementType.BFloat16 => 2,
        KvElementType.Float8 or KvElementType.Int8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(elementType), elementType, $"Unknown element type. Use one of: {string.Join(", ", Enum.GetNames<KvElementType>())}."),
    };

    /// <inheritdoc/>
    public bool Equals(KvCacheSpec? other) =>
        other is not null
        && Layers == other.Layers
        && KvHeads == other.KvHeads
        && HeadDim == other.HeadDim
        && TokensPerBlock == other.TokensPerBlock
        && ElementType == other.ElementType
        && Layout == other.Layout;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as KvCacheSpec);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Layers, KvHeads, HeadDim, TokensPerBlock, ElementType, Layout);

    /// <summary>A one-line description, for logs and error messages.</summary>
    /// <returns>For example <c>32 layers x 8 KV heads x 128 dims, 16 tokens/block, Float16 (65536 B/block)</c>; a token-major spec says so.</returns>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"{Layers} layers x {KvHeads} KV heads x {HeadDim} dims, {TokensPerBlock} tokens/block, {ElementType}{(Layout == KvBlockLayout.TokenMajor ? ", token-major" : string.Empty)} ({BytesPerBlock} B/block)");

    /// <summary>Compares two specs by value.</summary>
    /// <param name="left">A spec or null.</param>
    /// <param name="right">A spec or null.</param>
    /// <returns><see langword="true"/> when both are null or both have the same dimensions.</returns>
    public static bool operator ==(KvCacheSpec? left, KvCacheSpec? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Compares two specs by value.</summary>
    /// <param name="left">A spec or null.</param>
    /// <param name="right">A spec or null.</param>
    /// <returns><see langword="true"/> when the specs differ.</returns>
    public static bool operator !=(KvCacheSpec? left, KvCacheSpec? right) => !(left == right);

    /// <summary>The same spec with another layout.</summary>
    /// <param name="layout">The layout inside each block half.</param>
    /// <returns>A spec equal to this one but for <see cref="Layout"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layout"/> is not a defined value.</exception>
    public KvCacheSpec WithLayout(KvBlockLayout layout) => new(Layers, KvHeads, HeadDim, TokensPerBlock, ElementType, layout);

    private void ThrowSlotOutOfRange(int tokenSlot) => throw new ArgumentOutOfRangeException(
        nameof(tokenSlot),
        tokenSlot,
        string.Create(CultureInfo.InvariantCulture, $"Token slot {tokenSlot} is not in a block of {TokensPerBlock} tokens (0 to {TokensPerBlock - 1})."));

    private void ThrowHeadOutOfRange(int head) => throw new ArgumentOutOfRangeException(
        nameof(head),
        head,
        string.Create(CultureInfo.InvariantCulture, $"Head {head} is not one of the spec's {KvHeads} KV heads (0 to {KvHeads - 1})."));

    private static void ThrowIfOutOfRange(int value, int max, string name)
    {
        if (value < 1 || value > max)
        {
            throw new ArgumentOutOfRangeException(name, value, string.Create(CultureInfo.InvariantCulture, $"{name} must be between 1 and {max}."));
        }
    }
}
