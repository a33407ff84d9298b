namespace KvBlockPool.Benchmarks.Baselines;

/// <summary>
/// <see cref="PoolLogicModel"/> with every call under a <c>lock</c>, one acquisition per call as the pool
/// takes for its own calls: the difference to the bare model is the lock alone, on identical logic.
/// </summary>
internal sealed class LockedPoolLogicModel(PoolLogicModel model)
{
    private readonly object _gate = new();

    public void Allocate(AgentId agent, int layer, Span<ModelBlock> destination)
    {
        lock (_gate)
        {
            model.Allocate(agent, layer, destination);
        }
    }

    public void Free(AgentId agent, ReadOnlySpan<ModelBlock> blocks)
    {
        lock (_gate)
        {
            model.Free(agent, blocks);
        }
    }

    public PoolLogicModel.Record BeginScope(AgentId agent)
    {
        lock (_gate)
        {
            return model.BeginScope(agent);
        }
    }

    public void ScopeAllocate(PoolLogicModel.Record scope, int layer, Span<ModelBlock> destination)
    {
        lock (_gate)
        {
            model.ScopeAllocate(scope, layer, destination);
        }
    }

    public void ScopeAllocateAllLayers(PoolLogicModel.Record scope, int blocksPerLayer, Span<ModelBlock> destination)
    {
        lock (_gate)
        {
            model.ScopeAllocateAllLayers(scope, blocksPerLayer, destination);
        }
    }

    public void Commit(PoolLogicModel.Record scope)
    {
        lock (_gate)
        {
            model.Commit(scope);
        }
    }

    public int FreeAgent(AgentId agent)
    {
        lock (_gate)
        {
            return model.FreeAgent(agent);
        }
    }
}
