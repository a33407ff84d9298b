using KvBlockPool.SystematicTests.Harness;
using KvBlockPool.SystematicTests.Scenarios;

namespace KvBlockPool.SystematicTests.Mutants;

/// <summary>
/// The exhaustion scenario must catch the incident's check-then-pop race. If Coyote ever stops finding it, the
/// scenario or the harness has gone blind, and the passing scenarios on the real pool prove nothing.
/// </summary>
public sealed class CheckThenPopMutantTests(ITestOutputHelper output) : SystematicTest(output)
{
    /// <summary>A generous bound: with the fixed seed Coyote finds both variants far sooner (the output says when).</summary>
    private const uint Bound = 200;

    [Theory]
    [InlineData(CheckThenPopStyle.SecondLock)]
    [InlineData(CheckThenPopStyle.NoLock)]
    public void Coyote_finds_the_check_then_pop_race(CheckThenPopStyle style) =>
        AssertFindsBug($"CheckThenPopMutant.{style}", () => ExhaustionScenario.RunAsync(new CheckThenPopSource(ExhaustionScenario.Capacity, style)), Bound);
}
