using KvBlockPool.Prefix;
using KvBlockPool.SystematicTests.Harness;
using KvBlockPool.SystematicTests.Scenarios;

namespace KvBlockPool.SystematicTests.Mutants;

/// <summary>
/// The sharing race must catch each bug the prefix cache's design exists to prevent: an eviction that takes a chunk
/// agents still reference, a reference count dropped outside the gate, and a key left in the index after its chunk
/// was evicted; and the copy-on-write race must catch a truncation whose copy of a shared chunk is not a copy; the copy race, a chunk read out without a hold. If one of these ever passes, the scenario can no longer tell the real code from the bug.
/// </summary>
public sealed class PrefixMutantTests(ITestOutputHelper output) : SystematicTest(output)
{
    private const uint Bound = 1000;

    [Theory]
    [InlineData((int)PrefixMutant.EvictReferenced)]
    [InlineData((int)PrefixMutant.DereferenceOutsideGate)]
    [InlineData((int)PrefixMutant.KeyLeftInIndex)]
    public void Coyote_finds_the_planted_prefix_cache_bug(int mutant) =>
        AssertFindsBug($"PrefixMutant.{(PrefixMutant)mutant}", () => PrefixScenario.RunSharingAsync(BlockClearMode.ZeroOnFree, (PrefixMutant)mutant), Bound);

    [Fact]
    public void Coyote_finds_a_copy_on_write_that_does_not_copy() =>
        AssertFindsBug($"PrefixMutant.{PrefixMutant.CopyOnWriteWithoutCopy}", () => PrefixScenario.RunCopyOnWriteAsync(BlockClearMode.ZeroOnFree, PrefixMutant.CopyOnWriteWithoutCopy), Bound);

    [Fact]
    public void Coyote_finds_a_chunk_copied_out_without_a_hold() =>
        AssertFindsBug($"PrefixMutant.{PrefixMutant.CopyChunkWithoutHold}", () => PrefixScenario.RunCopyOutAsync(BlockClearMode.ZeroOnFree, PrefixMutant.CopyChunkWithoutHold), Bound);
}
