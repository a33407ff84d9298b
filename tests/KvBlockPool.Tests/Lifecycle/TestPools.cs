namespace KvBlockPool.Tests.Lifecycle;

/// <summary>Small pools for lifecycle tests: 4 layers, 4 tokens per block, 256-byte blocks.</summary>
internal static class TestPools
{
    public static KvCacheSpec SmallSpec { get; } = new(layers: 4, kvHeads: 2, headDim: 8, tokensPerBlock: 4, KvElementType.Float16);

    public static BlockPool Create(int capacityBlocks, bool diagnostics = false, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null, System.Diagnostics.Metrics.IMeterFactory? meterFactory = null, string? name = null) =>
        new(new BlockPoolOptions
        {
            Spec = SmallSpec,
            CapacityBlocks = capacityBlocks,
            Alignment = 64,
            Diagnostics = diagnostics,
            LoggerFactory = loggerFactory,
            MeterFactory = meterFactory,
            Name = name,
        });
}
