using KvBlockPool.Core;

namespace KvBlockPool.Scrubbing;

/// <summary><see cref="BlockClearMode.ZeroOnFree"/>: slabs start zeroed and every freed block is zeroed outside the gate, so every block a caller receives reads as zeros.</summary>
internal sealed class ZeroingScrubber : BlockScrubber
{
    public static readonly ZeroingScrubber Instance = new();

    private ZeroingScrubber()
    {
    }

    public override bool ScrubsOnFree => true;

    public override byte? SlabFill => 0;

    public override BlockCorruptionException? Scrub(NativeSlabs slabs, int id, AgentId owner, int layer)
    {
        slabs.Data(id).Clear();
        return null;
    }
}
