namespace KvBlockPool.Redis;

/// <summary>The calls a store makes, as the tag <c>kvblockpool.tier.operation</c> names them.</summary>
internal enum TierOperation
{
    Get,
    Put,
    Exists,
    Delete,
}
