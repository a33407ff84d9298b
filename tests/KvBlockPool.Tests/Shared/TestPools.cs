using System.Diagnostics.Metrics;
using KvBlockPool.Core;
using Microsoft.Extensions.Logging;

namespace KvBlockPool.Tests.Shared;

/// <summary>
/// The one factory every test suite builds its pools with: small specs (256-byte blocks unless a test asks for
/// another shape), so every test stays far from the machine's limits, and one named parameter for each thing a
/// suite varies. Tests about construction itself (ConstructionTests, the README's quick start) build by hand.
/// </summary>
internal static class TestPools
{
    /// <summary>
    /// A small spec: by default 2 KV heads x 8 dims x 4 tokens in FP16, that is 128 bytes per half and 256 per block.
    /// </summary>
    /// <param name="layers">The number of layers; 2 unless given (the lifecycle tests use 4, the persistence tests 3).</param>
    /// <param name="kvHeads">KV heads per layer.</param>
    /// <param name="headDim">Dimensions per head.</param>
    /// <param name="tokensPerBlock">Tokens one block holds.</param>
    /// <param name="elementType">The element type; FP16 unless given.</param>
    public static KvCacheSpec Spec(
        int layers = 2,
        int kvHeads = 2,
        int headDim = 8,
        int tokensPerBlock = 4,
        KvElementType elementType = KvElementType.Float16) =>
        new(layers, kvHeads, headDim, tokensPerBlock, elementType);

    /// <summary>A pool with the given settings; every parameter has the default most tests want.</summary>
    /// <param name="capacity">Capacity in blocks, all layers together; ignored when <paramref name="capacityBytes"/> is given.</param>
    /// <param name="layers">Layers of the default <see cref="Spec"/>; ignored when <paramref name="spec"/> is given.</param>
    /// <param name="clearMode">What happens to a freed block's bytes; zeroed unless given (the library's default).</param>
    /// <param name="diagnostics">
    /// Diagnostics mode (poison, guard bytes, allocation stacks); off unless given, so no test depends on the
    /// environment. <see langword="null"/> lets the pool read <c>KVBLOCKPOOL_DIAGNOSTICS</c>, for the tests of that switch.
    /// </param>
    /// <param name="blocksPerSlab">Blocks per native slab; 0 lets the pool choose (one slab for these small pools).</param>
    /// <param name="name">The pool's name in logs, leak reports and metric tags; "default" when not given.</param>
    /// <param name="spec">A spec other than the small default, for tests that need large blocks or many layers.</param>
    /// <param name="capacityBytes">A native-memory budget instead of <paramref name="capacity"/>.</param>
    /// <param name="alignment">Alignment of every block in bytes; 64 unless given, 0 for the system page size (the library's default).</param>
    /// <param name="loggerFactory">Where the pool logs leaks and corruption; for example a <see cref="CapturingLoggerFactory"/>.</param>
    /// <param name="meterFactory">The host's meter factory, for tests of the pool's metrics.</param>
    /// <param name="allocator">
    /// The native allocator seam, for tests that make chosen allocations fail (<c>FailingAllocator</c>); the system
    /// allocator unless given.
    /// </param>
    public static BlockPool Create(
        int capacity = 16,
        int layers = 2,
        BlockClearMode clearMode = BlockClearMode.ZeroOnFree,
        bool? diagnostics = false,
        int blocksPerSlab = 0,
        string? name = null,
        KvCacheSpec? spec = null,
        long? capacityBytes = null,
        int alignment = 64,
        ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null,
        INativeAllocator? allocator = null,
        KvBlockPool.Prefix.KvPrefixCacheOptions? prefixCache = null)
    {
        var options = new BlockPoolOptions
        {
            Spec = spec ?? Spec(layers),
            CapacityBlocks = capacityBytes is null ? capacity : null,
            CapacityBytes = capacityBytes,
            Alignment = alignment,
            ClearMode = clearMode,
            Diagnostics = diagnostics,
            BlocksPerSlab = blocksPerSlab,
            Name = name,
            LoggerFactory = loggerFactory,
            MeterFactory = meterFactory,
            PrefixCache = prefixCache,
        };
        return allocator is null ? new BlockPool(options) : new BlockPool(options, allocator);
    }

    /// <summary>A handle the pool never issued: the fields of <paramref name="block"/> with some replaced.</summary>
    public static KvBlock Forge(KvBlock block, int? id = null, int? layer = null, uint? generation = null) =>
        new(id ?? block.Id, layer ?? block.Layer, generation ?? block.Generation, block.PoolStamp);
}
