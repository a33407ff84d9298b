namespace KvBlockPool.Lifecycle;

/// <summary>
/// Where one token of an agent's cache lives: the <see cref="BlockIndex"/>-th block of each layer (in token order, as
/// in <see cref="AgentCacheManager.CopyBlockIds(AgentId, int, Span{int})"/> and <see cref="KvCacheLease.GetBlockIds"/>),
/// at slot <see cref="Offset"/> inside it.
/// </summary>
/// <param name="Token">The token's position in the agent's sequence, from 0.</param>
/// <param name="BlockIndex">The block holding it: <c>Token / TokensPerBlock</c>.</param>
/// <param name="Offset">Its slot in that block: <c>Token % TokensPerBlock</c>; pass it to <see cref="KvCacheSpec.GetVectorOffset"/>.</param>
public readonly record struct KvTokenSlot(int Token, int BlockIndex, int Offset);
