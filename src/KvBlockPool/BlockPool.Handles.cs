using System.Runtime.CompilerServices;

namespace KvBlockPool;

/// <content>Shared validation of handles and the messages that explain a refusal.</content>
public sealed partial class BlockPool
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsIssuedHere(KvBlock block) =>
        block.PoolStamp == _stamp && (uint)block.Id < (uint)_generation.Length && (uint)block.Layer < (uint)_spec.Layers;

    private ForeignBlockHandleException ForeignHandle(KvBlock block, string consequence) => new(
        block,
        block.IsDefault
            ? $"The handle is default(KvBlock), which no pool issues. {consequence}"
            : $"{block} was not issued by pool '{_name}' in its current configuration: it comes from another pool, or from before a Reconfigure. {consequence}");

    private static StaleBlockHandleException StaleHandle(KvBlock block, uint current, string consequence) => new(
        block,
        $"{block} is stale: the block was freed and handed out again since (its generation is now {current}). {consequence}");

    private BlockOwnershipException WrongLayer(KvBlock block, int owner, string consequence) => new(
        block,
        owner < 0
            ? $"{block} does not name an allocated block: the block is free, and no pool issues a handle to a free block. {consequence}"
            : $"{block} names layer {block.Layer}, but the block was allocated for layer {LayerOf(owner)}: the pool did not issue this handle. {consequence}");

    private string DescribeOwner(int owner) => owner switch
    {
        NoOwner or Releasing => "no one (it is free)",
        >= 0 when _records[SlotOf(owner)] is { } record => record.IsScope ? $"an uncommitted allocation scope for {record.Agent}" : record.Agent.ToString(),
        _ => "an unknown owner",
    };
}
