namespace KvBlockPool.Core;

/// <summary>The exceptions that refuse a handle, with messages that say what the handle is and what happened to its block.</summary>
internal static class HandleErrors
{
    public static ForeignBlockHandleException Foreign(KvBlock block, string poolName, string consequence) => new(
        block,
        block.IsDefault
            ? $"The handle is default(KvBlock), which no pool issues. {consequence}"
            : $"{block} was not issued by pool '{poolName}' in its current configuration: it comes from another pool, or from before a Reconfigure. {consequence}");

    public static StaleBlockHandleException Stale(KvBlock block, uint current, string consequence) => new(
        block,
        $"{block} is stale: the block was freed and handed out again since (its generation is now {current}). {consequence}");

    public static BlockOwnershipException WrongLayer(KvBlock block, int owner, BlockTable table, string consequence) => new(
        block,
        owner < 0
            ? $"{block} does not name an allocated block: the block is free, and no pool issues a handle to a free block. {consequence}"
            : $"{block} names layer {block.Layer}, but the block was allocated for layer {table.LayerOf(owner)}: the pool did not issue this handle. {consequence}");

    public static BlockOwnershipException NotOwned(KvBlock block, AgentId agent, int owner, BlockTable table, OwnerTable owners, string consequence) => new(
        block,
        $"{block} is held by {DescribeOwner(owner, table, owners)}, not by {agent}. {consequence}");

    private static string DescribeOwner(int owner, BlockTable table, OwnerTable owners) => owner switch
    {
        BlockTable.NoOwner or BlockTable.Releasing => "no one (it is free)",
        >= 0 when owners.RecordAt(table.SlotOf(owner)) is { } record => record.IsScope ? $"an uncommitted allocation scope for {record.Agent}" : record.Agent.ToString(),
        _ => "an unknown owner",
    };
}
