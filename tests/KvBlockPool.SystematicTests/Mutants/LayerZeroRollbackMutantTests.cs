using KvBlockPool.SystematicTests.Harness;
using KvBlockPool.SystematicTests.Scenarios;

namespace KvBlockPool.SystematicTests.Mutants;

/// <summary>
/// The scope scenario must catch a rollback that frees only layer 0 (the incident that leaked every other layer).
/// If it ever passes on this mutant, the scenario has gone blind.
/// </summary>
public sealed class LayerZeroRollbackMutantTests(ITestOutputHelper output) : SystematicTest(output)
{
    private const uint Bound = 100;

    [Fact]
    public void Coyote_finds_the_rollback_that_returns_only_layer_zero() =>
        AssertFindsBug("LayerZeroRollbackMutant", async () =>
        {
            using BlockPool pool = ScenarioPools.Create(BlockClearMode.ZeroOnFree, ScopeScenario.Capacity, ScopeScenario.Layers);
            await ScopeScenario.RunAsync(pool, new LayerZeroRollbackScopeSource(pool));
        }, Bound);
}
