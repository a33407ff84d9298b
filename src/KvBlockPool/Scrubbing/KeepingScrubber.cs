using KvBlockPool.Core;

namespace KvBlockPool.Scrubbing;

/// <summary><see cref="BlockClearMode.None"/> without diagnostics: freed bytes are kept as they are; a free needs no second trip through the gate.</summary>
internal sealed class KeepingScrubber : BlockScrubber
{
    public static readonly KeepingScrubber Instance = new();

    private KeepingScrubber()
    {
    }

    public override bool ScrubsOnFree => false;

    public override byte? SlabFill => null;

    public override BlockCorruptionException? Scrub(NativeSlabs slabs, int id, AgentId owner, int layer) => null;
}
