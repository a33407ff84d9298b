namespace KvBlockPool.SystematicTests.Harness;

/// <summary>Opens multi-layer allocation scopes; the real pool and the layer-0 rollback mutant both implement it.</summary>
internal interface IScopeSource
{
    IScopeUnderTest Begin(AgentId agent);
}

/// <summary>One open scope: allocate, then commit, or dispose without a commit to roll back.</summary>
internal interface IScopeUnderTest : IDisposable
{
    KvBlock[] Allocate(int layer, int count);

    void Commit();
}
