namespace KvBlockPool.Cli.Simulate.SharedPrefix;

/// <summary>
/// Measures the memory the prefix cache saves: the blocks the live agents would hold without sharing (each its own
/// copy of every block in its table) less the blocks the pool actually has allocated, sampled while the run goes.
/// <para>
/// Workers count an agent's blocks up only after the pool allocated them and down before the pool frees them, in two
/// counters that only grow; a sample reads the ups before the pool and the downs after it. Operations in flight then
/// can only make a sample smaller than the truth, never larger: a run with nothing to share reads 0, not noise.
/// </para>
/// </summary>
internal sealed class SharingLedger
{
    private readonly List<(long Unshared, long Saved)> _samples = [];
    private long _added;
    private long _removed;

    /// <summary>Blocks the agents hold now, counted each time (every layer): after the pool allocated them.</summary>
    public void Added(long blocks) => Interlocked.Add(ref _added, blocks);

    /// <summary>Blocks an agent is about to give back: before the pool frees them.</summary>
    public void Removing(long blocks) => Interlocked.Add(ref _removed, blocks);

    /// <summary>Blocks the agents hold by the ledger, when no operation is in flight: 0 after every agent left.</summary>
    public long Outstanding => Interlocked.Read(ref _added) - Interlocked.Read(ref _removed);

    public int SampleCount => _samples.Count;

    /// <summary>The most blocks saved at one sample.</summary>
    public long PeakSavedBlocks => _samples.Count == 0 ? 0 : _samples.Max(s => s.Saved);

    /// <summary>Blocks saved, on average over the samples.</summary>
    public double MeanSavedBlocks => _samples.Count == 0 ? 0 : _samples.Average(s => s.Saved);

    /// <summary>Blocks the live agents would have held without sharing, on average over the samples.</summary>
    public double MeanUnsharedBlocks => _samples.Count == 0 ? 0 : _samples.Average(s => s.Unshared);

    /// <summary>Saved blocks as a share of what the agents would have held without sharing, over the whole run.</summary>
    public double SavedFraction
    {
        get
        {
            double unshared = _samples.Sum(s => (double)s.Unshared);
            return unshared <= 0 ? 0 : _samples.Sum(s => (double)s.Saved) / unshared;
        }
    }

    /// <summary>Takes one sample. Called by the sampling thread only.</summary>
    public void Sample(BlockPool pool)
    {
        long added = Interlocked.Read(ref _added);
        int allocated = pool.GetStatistics().Allocated;
        long removed = Interlocked.Read(ref _removed);
        long unshared = Math.Max(0, added - removed);

        // Blocks of abandoned prefills (scopes) are allocated but no agent's: they too only lower the figure.
        _samples.Add((unshared, Math.Max(0, unshared - allocated)));
    }
}
