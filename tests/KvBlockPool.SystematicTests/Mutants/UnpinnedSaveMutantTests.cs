using KvBlockPool.SystematicTests.Harness;
using KvBlockPool.SystematicTests.Scenarios;

namespace KvBlockPool.SystematicTests.Mutants;

/// <summary>
/// The save/release scenario must catch a save that copies without pinning its agent: a release slips in between
/// the copy's handle check and the copy itself, and the save reads scrubbed or reused memory. If this ever passes,
/// the scenario can no longer tell that the pin is what keeps saves safe.
/// </summary>
public sealed class UnpinnedSaveMutantTests(ITestOutputHelper output) : SystematicTest(output)
{
    private const uint Bound = 1000;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void Coyote_finds_the_save_that_reads_without_a_pin(BlockClearMode mode) =>
        AssertFindsBug($"UnpinnedSaveMutant.{mode}", () => SaveReleaseScenario.RunAsync(mode, pinned: false), Bound);
}
