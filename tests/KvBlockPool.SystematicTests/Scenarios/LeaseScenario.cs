using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests.Scenarios;

/// <summary>
/// A kernel reading an agent's blocks through a lease while another thread releases the agent and a third agent
/// waits for the memory. The lease pins the agent, so the release is refused until the lease is disposed; whatever
/// the reader sees through the lease must be the agent's own bytes — never a scrub's zeros, never another agent's
/// data. The same race with a lease that does not pin is a mutant the scenario must catch.
/// </summary>
public sealed class LeaseScenario(ITestOutputHelper output) : SystematicTest(output)
{
    internal const int Layers = 2;
    private const byte OwnerByte = 0x33;
    private const byte IntruderByte = 0x44;

    [Theory]
    [MemberData(nameof(ScenarioPools.ClearModes), MemberType = typeof(ScenarioPools))]
    public void A_lease_reader_racing_a_release_only_ever_sees_its_agents_bytes(BlockClearMode mode) =>
        AssertNoBugs($"Lease.{mode}", () => RunAsync(mode, pinned: true));

    /// <summary>
    /// One run: the agent holds every block of the pool, so the intruder gets memory only through the release. With
    /// <paramref name="pinned"/> false the reader's lease gives its pin back at once (the mutant).
    /// </summary>
    internal static async Task RunAsync(BlockClearMode mode, bool pinned)
    {
        using BlockPool pool = ScenarioPools.Create(mode, capacity: Layers, layers: Layers);
        var owner = new AgentId(1);
        var intruder = new AgentId(2);
        foreach (KvBlock block in pool.AllocateAllLayers(owner, blocksPerLayer: 1))
        {
            pool.GetBlockSpan(block).Fill(OwnerByte);
        }

        Task<string?> read = Task.Run(() => ReadAsync(pool, owner, pinned));
        Task release = Task.Run(async () =>
        {
            while (true)
            {
                try
                {
                    pool.FreeAgent(owner);
                    return;
                }
                catch (AgentPinnedException)
                {
                    await Task.Yield(); // refused while the lease is open: retry, as a host would
                }
            }
        });
        Task intrude = Task.Run(async () =>
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                if (pool.TryAllocateAllLayers(intruder, 1, new KvBlock[Layers]))
                {
                    using KvCacheLease lease = pool.Lease(intruder);
                    for (int layer = 0; layer < Layers; layer++)
                    {
                        lease.GetKeys<byte>(layer, 0).Fill(IntruderByte);
                        lease.GetValues<byte>(layer, 0).Fill(IntruderByte);
                    }

                    return;
                }

                await Task.Yield();
            }
        });
        await Task.WhenAll(new Task[] { read, release, intrude }); // the array overload: Coyote 1.7 does not rewrite the span one

        Check.That(read.Result is null, read.Result ?? string.Empty);
        Check.That(pool.GetPinCount(owner) == 0, $"{owner} still has {pool.GetPinCount(owner)} pin(s) after its lease.");
        Check.That(pool.FindPinViolation() is null, pool.FindPinViolation() ?? string.Empty);
        Check.That(!pool.ContainsAgent(owner), $"{owner} was released but is still registered.");
        Check.Invariants(pool, "after the lease and the release");
    }

    /// <summary>Leases the agent, then reads every block with a scheduling point between the lease and each read.</summary>
    private static async Task<string?> ReadAsync(BlockPool pool, AgentId agent, bool pinned)
    {
        using KvCacheLease lease = pool.Lease(agent);
        if (!pinned)
        {
            pool.Unpin(agent); // the mutant: a lease that does not hold its agent's blocks
        }

        for (int layer = 0; layer < Layers; layer++)
        {
            for (int index = 0; index < lease.GetBlockCount(layer); index++)
            {
                await Task.Yield(); // a kernel reads long after the lease resolved its blocks
                int key = lease.GetKeys<byte>(layer, index).IndexOfAnyExcept(OwnerByte);
                int value = lease.GetValues<byte>(layer, index).IndexOfAnyExcept(OwnerByte);
                if (key >= 0 || value >= 0)
                {
                    return $"The lease of {agent} read block {lease.GetBlockIds(layer)[index]} (layer {layer}) after it left the agent: {(key >= 0 ? $"key byte {key}" : $"value byte {value}")} is not 0x{OwnerByte:x2}.";
                }
            }
        }

        return null;
    }
}
