using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Mutants;

/// <summary>
/// MUTANT, test-only and deliberately broken: the rollback of the incident, which returned the first layer's blocks
/// and forgot the rest. Built on the real pool's public API: commit works, but a rollback publishes the scope to
/// the agent and frees only layer 0's blocks, so every other layer's blocks stay allocated to an agent that
/// thinks it got nothing.
/// </summary>
internal sealed class LayerZeroRollbackScopeSource(BlockPool pool) : IScopeSource
{
    public IScopeUnderTest Begin(AgentId agent) => new Scope(pool, agent, pool.BeginScope(agent));

    private sealed class Scope(BlockPool pool, AgentId agent, AllocationScope scope) : IScopeUnderTest
    {
        private readonly List<KvBlock> _layerZero = [];
        private bool _committed;

        public KvBlock[] Allocate(int layer, int count)
        {
            KvBlock[] blocks = scope.Allocate(layer, count);
            if (layer == 0)
            {
                _layerZero.AddRange(blocks);
            }

            return blocks;
        }

        public void Commit()
        {
            scope.Commit();
            _committed = true;
        }

        public void Dispose()
        {
            if (_committed)
            {
                return;
            }

            // THE BUG: only layer 0 goes back to the pool.
            scope.Commit();
            pool.Free(agent, _layerZero.ToArray());
        }
    }
}
