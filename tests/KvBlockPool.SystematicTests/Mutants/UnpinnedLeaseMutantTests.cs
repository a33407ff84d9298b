using KvBlockPool.SystematicTests.Harness;
using KvBlockPool.SystematicTests.Scenarios;

namespace KvBlockPool.SystematicTests.Mutants;

/// <summary>
/// The lease scenario must catch a lease that does not pin its agent: a release and an intruder's allocation slip in
/// between the lease and a read, and the reader sees scrubbed or another agent's memory. If this ever passes, the
/// scenario can no longer tell that the pin is what keeps lease readers safe.
/// </summary>
public sealed class UnpinnedLeaseMutantTests(ITestOutputHelper output) : SystematicTest(output)
{
    private const uint Bound = 1000;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Coyote_finds_the_lease_that_reads_without_a_pin(BlockClearMode mode) =>
        AssertFindsBug($"UnpinnedLeaseMutant.{mode}", () => LeaseScenario.RunAsync(mode, pinned: false), Bound);
}
