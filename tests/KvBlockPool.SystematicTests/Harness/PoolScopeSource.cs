namespace KvBlockPool.SystematicTests.Harness;

/// <summary>The pool's own <see cref="AllocationScope"/> as an <see cref="IScopeSource"/>.</summary>
internal sealed class PoolScopeSource(BlockPool pool) : IScopeSource
{
    public IScopeUnderTest Begin(AgentId agent) => new Scope(pool.BeginScope(agent));

    private sealed class Scope(AllocationScope scope) : IScopeUnderTest
    {
        public KvBlock[] Allocate(int layer, int count) => scope.Allocate(layer, count);

        public void Commit() => scope.Commit();

        public void Dispose() => scope.Dispose();
    }
}
