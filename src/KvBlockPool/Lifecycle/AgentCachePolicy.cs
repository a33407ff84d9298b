using Microsoft.Extensions.ObjectPool;

namespace KvBlockPool.Lifecycle;

/// <summary>Creates agent records shaped for the pool's current spec and resets them when they come back.</summary>
internal sealed class AgentCachePolicy(BlockPool pool) : PooledObjectPolicy<AgentCache>
{
    public override AgentCache Create() => new(pool.Spec.Layers);

    public override bool Return(AgentCache obj)
    {
        obj.Reset();

        // A record shaped for a spec the pool no longer has would be dropped at the next rent anyway.
        return obj.LayerCount == pool.Spec.Layers;
    }
}
