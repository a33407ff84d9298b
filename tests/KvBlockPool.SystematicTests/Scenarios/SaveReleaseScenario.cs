using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// Issue 6's race: a save copying an agent's blocks out of the pool while another thread releases the agent and a
/// third agent waits for the memory. A save pins the agent (as <c>KvCacheWriter</c> does), so the release is
/// refused until the save is done; no copied block may ever hold anything but the saved agent's bytes — not the
/// zeros of a scrub, not another agent's data. The same race without the pin is a mutant the scenario must catch.
/// </summary>
public sealed class SaveReleaseScenario(ITestOutputHelper output) : SystematicTest(output)
{
    internal const int Layers = 2;
    private const byte SavedByte = 0x11;
    private const byte IntruderByte = 0x22;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void A_save_racing_a_release_never_reads_a_freed_block(BlockClearMode mode) =>
        AssertNoBugs($"SaveRelease.{mode}", () => RunAsync(mode, pinned: true));

    /// <summary>
    /// One run: the saved agent holds every block of the pool, so the intruder gets memory only through the release.
    /// With <paramref name="pinned"/> false the save copies through its handles without a pin (the mutant).
    /// </summary>
    internal static async Task RunAsync(BlockClearMode mode, bool pinned)
    {
        using BlockPool pool = ScenarioPools.Create(mode, capacity: Layers, layers: Layers);
        var saved = new AgentId(1);
        var intruder = new AgentId(2);
        KvBlock[] held = pool.AllocateAllLayers(saved, blocksPerLayer: 1);
        foreach (KvBlock block in held)
        {
            pool.GetBlockSpan(block).Fill(SavedByte);
        }

        int blockBytes = pool.Spec.BytesPerBlock;
        Task<string?> save = Task.Run(() => pinned ? SavePinnedAsync(pool, saved, blockBytes) : SaveUnpinnedAsync(pool, held, blockBytes));
        Task release = Task.Run(async () =>
        {
            while (true)
            {
                try
                {
                    pool.FreeAgent(saved);
                    return;
                }
                catch (AgentPinnedException)
                {
                    await Task.Yield(); // refused while the save holds its pin: retry, as a host would
                }
            }
        });
        Task intrude = Task.Run(async () =>
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                try
                {
                    foreach (KvBlock block in pool.AllocateAllLayers(intruder, blocksPerLayer: 1))
                    {
                        pool.GetBlockSpan(block).Fill(IntruderByte);
                    }

                    return;
                }
                catch (BlockPoolExhaustedException)
                {
                    await Task.Yield();
                }
            }
        });
        await Task.WhenAll(new Task[] { save, release, intrude }); // the array overload: Coyote 1.7 does not rewrite the span one

        Check.That(save.Result is null, save.Result ?? string.Empty);
        Check.That(pool.GetPinCount(saved) == 0, $"{saved} still has {pool.GetPinCount(saved)} pin(s) after its save.");
        Check.That(pool.FindPinViolation() is null, pool.FindPinViolation() ?? string.Empty);
        Check.That(!pool.ContainsAgent(saved), $"{saved} was released but is still registered.");
        Check.Invariants(pool, "after the save and the release");
    }

    /// <summary>Saves as <c>KvCacheWriter</c> does: pin (or find nothing if the release came first), copy, unpin.</summary>
    private static async Task<string?> SavePinnedAsync(BlockPool pool, AgentId agent, int blockBytes)
    {
        AgentPin pin;
        try
        {
            pin = pool.Pin(agent);
        }
        catch (ArgumentException)
        {
            return null; // the release came first: nothing to save, nothing read
        }

        using (pin)
        {
            var buffer = new byte[blockBytes];
            for (int layer = 0; layer < pin.LayerCount; layer++)
            {
                for (int index = 0; index < pin.GetBlockCount(layer); index++)
                {
                    KvBlock block = pin.GetBlock(layer, index);
                    await CopyWithPreemptionAsync(pool, block, buffer);
                    string? wrong = CheckSavedBytes(block, buffer);
                    if (wrong is not null)
                    {
                        return wrong;
                    }
                }
            }
        }

        return null;
    }

    /// <summary>The mutant: copies through the handles it already holds, without pinning the agent.</summary>
    private static async Task<string?> SaveUnpinnedAsync(BlockPool pool, KvBlock[] handles, int blockBytes)
    {
        var buffer = new byte[blockBytes];
        foreach (KvBlock block in handles)
        {
            try
            {
                await CopyWithPreemptionAsync(pool, block, buffer);
            }
            catch (InvalidBlockHandleException)
            {
                return null; // the free came before this copy's check: the handle is refused, nothing read
            }

            string? wrong = CheckSavedBytes(block, buffer);
            if (wrong is not null)
            {
                return wrong;
            }
        }

        return null;
    }

    /// <summary>
    /// A data access's steps, with a scheduling point between the check under the gate and the copy outside
    /// it: a thread can be preempted exactly there, and the copy itself is plain memory that Coyote cannot
    /// interleave with, so the point is made explicit for it to explore.
    /// </summary>
    private static async Task CopyWithPreemptionAsync(BlockPool pool, KvBlock block, byte[] destination)
    {
        using KvBlockPool.Core.BlockAccess access = pool.BeginDataAccess(block, 0, destination.Length);
        await Task.Yield();
        access.Span.CopyTo(destination);
    }

    private static string? CheckSavedBytes(KvBlock block, byte[] copied)
    {
        int at = copied.AsSpan().IndexOfAnyExcept(SavedByte);
        return at < 0 ? null : $"The save read {block} after it was freed: byte {at} is 0x{copied[at]:x2}, not the saved agent's 0x{SavedByte:x2}.";
    }
}
