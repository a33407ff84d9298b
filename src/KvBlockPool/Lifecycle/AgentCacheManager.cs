using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.ObjectPool;

namespace KvBlockPool.Lifecycle;

/// <summary>
/// The inference host's view of a <see cref="BlockPool"/>: agents (sequences) whose caches grow token by token.
/// Admit an agent with its prompt (blocks on every layer, all or none), append tokens while it decodes (a new
/// block per layer only when the last one is full; the cache grows in place and is never copied), truncate it,
/// and release it. Every block stays accounted for: releasing an agent this manager does not know is logged as
/// an error and whatever the pool still holds for that id is reclaimed.
/// </summary>
/// <remarks>
/// <para>
/// Thread-safe: different agents can be driven from different threads at once; calls for one agent are
/// serialized. Every call validates its arguments before it changes anything, and a refused call (bad
/// argument, unknown agent, exhaustion) leaves both the manager and the pool exactly as they were.
/// </para>
/// <para>
/// Blocks go back to the pool through its public <see cref="BlockPool.Free(AgentId, ReadOnlySpan{KvBlock})"/> and
/// <see cref="BlockPool.FreeAgent"/>, so everything the pool does on free (validation, scrubbing, diagnostics)
/// applies. The manager does not own the pool: dispose the pool after the manager.
/// </para>
/// <para>
/// Per-agent bookkeeping objects come from a <see cref="DefaultObjectPool{T}"/> and keep their arrays, so in
/// steady state admission, append and release allocate nothing on the managed heap.
/// </para>
/// </remarks>
public sealed partial class AgentCacheManager : IDisposable
{
    /// <summary>How many released agents' bookkeeping objects are kept for reuse: enough for the churn of a busy host.</summary>
    private const int MaxRetainedRecords = 1024;

    /// <summary>Guards <see cref="_agents"/> and <see cref="_disposed"/>; held while calling the pool only to reclaim an unknown id (<see cref="TryReclaimUnknown"/>).</summary>
    private readonly object _gate = new();
    private readonly BlockPool _pool;
    private readonly ILogger _logger;
    private readonly DefaultObjectPool<AgentCache> _records;
    private readonly Dictionary<AgentId, AgentCache> _agents = [];

    private long _totalTokens;
    private long _totalBlocks;
    private int _agentCount;
    private volatile bool _disposed;

    /// <summary>Creates a manager over <paramref name="pool"/>.</summary>
    /// <param name="pool">The pool that holds the blocks; the manager does not own it.</param>
    /// <param name="loggerFactory">Where unknown-agent releases and agents alive at dispose are logged; optional.</param>
    /// <exception cref="ArgumentNullException"><paramref name="pool"/> is null.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="pool"/> is disposed.</exception>
    public AgentCacheManager(BlockPool pool, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ObjectDisposedException.ThrowIf(pool.IsDisposed, pool);
        _pool = pool;
        _logger = loggerFactory?.CreateLogger<AgentCacheManager>() ?? (ILogger)NullLogger<AgentCacheManager>.Instance;
        _records = new DefaultObjectPool<AgentCache>(new AgentCachePolicy(pool), MaxRetainedRecords);
    }

    /// <summary>The pool the blocks come from.</summary>
    public BlockPool Pool => _pool;

    /// <summary>Agents admitted and not yet released. Read without locking.</summary>
    public int AgentCount => Volatile.Read(ref _agentCount);

    /// <summary>Tokens in the caches of all admitted agents. Read without locking.</summary>
    public long TotalTokens => Interlocked.Read(ref _totalTokens);

    /// <summary>Blocks (all layers) held by all admitted agents, as the manager accounts for them. Read without locking.</summary>
    public long TotalBlocks => Interlocked.Read(ref _totalBlocks);

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>
    /// The agents that were still admitted when the manager was disposed, with the blocks each held (they were
    /// released then); <see langword="null"/> if the manager is not disposed or every agent had been released.
    /// </summary>
    public IReadOnlyDictionary<AgentId, int>? LiveAgentsAtDispose { get; private set; }

    /// <summary>Whether <paramref name="agent"/> is admitted.</summary>
    /// <param name="agent">The agent.</param>
    /// <returns><see langword="true"/> if the agent was admitted and not yet released.</returns>
    /// <exception cref="ObjectDisposedException">The manager is disposed.</exception>
    public bool IsAdmitted(AgentId agent) => TryGetInfo(agent, out _);

    /// <summary>Tokens, blocks per layer and the fill of the last block of <paramref name="agent"/>.</summary>
    /// <param name="agent">The agent.</param>
    /// <returns>A snapshot.</returns>
    /// <exception cref="KeyNotFoundException">The agent is not admitted.</exception>
    /// <exception cref="ObjectDisposedException">The manager is disposed.</exception>
    public AgentCacheInfo GetInfo(AgentId agent)
    {
        AgentCache record = Enter(agent);
        try
        {
            return Describe(record);
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    /// <summary>Like <see cref="GetInfo"/>, but returns <see langword="false"/> for an agent that is not admitted.</summary>
    /// <param name="agent">The agent.</param>
    /// <param name="info">The snapshot, when the agent is admitted.</param>
    /// <returns>Whether the agent is admitted.</returns>
    /// <exception cref="ObjectDisposedException">The manager is disposed.</exception>
    public bool TryGetInfo(AgentId agent, out AgentCacheInfo info)
    {
        AgentCache? record = TryEnter(agent);
        if (record is null)
        {
            info = default;
            return false;
        }

        try
        {
            info = Describe(record);
            return true;
        }
        finally
        {
            Monitor.Exit(record);
        }
    }

    /// <summary>
    /// Releases every agent still admitted (their blocks go back to the pool, unless the pool is already disposed),
    /// records them in <see cref="LiveAgentsAtDispose"/> and logs them as a warning. Idempotent. Later calls throw
    /// <see cref="ObjectDisposedException"/>. Does not dispose the pool.
    /// </summary>
    public void Dispose()
    {
        AgentCache[] live;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            live = [.. _agents.Values];
        }

        var report = new Dictionary<AgentId, int>();
        foreach (AgentCache record in live)
        {
            lock (record)
            {
                if (!record.IsAdmitted)
                {
                    continue; // released, or an admission that failed, while we waited for it
                }

                AgentId agent = record.Agent;
                report[agent] = record.BlocksPerLayer * record.LayerCount;
                try
                {
                    if (!_pool.IsDisposed)
                    {
                        _pool.FreeAgent(agent);
                    }
                }
                catch (Exception ex) when (ex is BlockCorruptionException or ObjectDisposedException or AgentPinnedException)
                {
                    // Corruption was already logged by the pool, and the free took effect; a pool disposed
                    // meanwhile has nothing left to free; a lease or save still reading the agent keeps its blocks
                    // in the pool (freeing them under a reader is what a pin forbids), where the pool's leak report
                    // names them. Either way the manager forgets the agent and reports it below.
                }

                Forget(record);
            }
        }

        if (report.Count > 0)
        {
            LiveAgentsAtDispose = report;
            LifecycleLog.DisposedWithLiveAgents(_logger, report.Count, report.Values.Sum(), DescribeLiveAgents(report));
        }
    }

    private static string DescribeLiveAgents(Dictionary<AgentId, int> report)
    {
        var text = new StringBuilder();
        foreach (KeyValuePair<AgentId, int> pair in report.OrderBy(p => p.Key.Value))
        {
            text.AppendLine().Append(CultureInfo.InvariantCulture, $"  {pair.Key}: {pair.Value} block(s)");
        }

        return text.ToString();
    }

    /// <summary>
    /// A canonical text of the manager's books, for "nothing changed" assertions in tests (the counterpart of
    /// <see cref="BlockPool.DescribeState"/>): the totals, and for every agent its record's tokens, handles and
    /// array sizes. Takes the map's lock, then each record's monitor in turn, never both at once.
    /// </summary>
    internal string DescribeState()
    {
        KeyValuePair<AgentId, AgentCache>[] entries;
        lock (_gate)
        {
            entries = [.. _agents.OrderBy(p => p.Key.Value)];
        }

        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"disposed={_disposed};agents={AgentCount};tokens={TotalTokens};blocks={TotalBlocks};");
        foreach (KeyValuePair<AgentId, AgentCache> entry in entries)
        {
            lock (entry.Value)
            {
                text.Append(CultureInfo.InvariantCulture, $"{entry.Key}=>{entry.Value.Describe()};");
            }
        }

        return text.ToString();
    }

    private AgentCacheInfo Describe(AgentCache record) =>
        new(record.Agent, record.Tokens, record.BlocksPerLayer, record.LayerCount, _pool.Spec.TokensPerBlock);

    /// <summary>Finds the agent's record and enters its monitor; throws if the agent is not admitted.</summary>
    private AgentCache Enter(AgentId agent)
    {
        AgentCache? record = TryEnter(agent);
        if (record is null)
        {
            ThrowNotAdmitted(agent);
        }

        return record;
    }

    /// <summary>Finds the agent's record and enters its monitor, or returns null if the agent is not admitted.</summary>
    private AgentCache? TryEnter(AgentId agent)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AgentCache? record;
        lock (_gate)
        {
            _agents.TryGetValue(agent, out record);
        }

        if (record is null)
        {
            return null;
        }

        Monitor.Enter(record);

        // While we waited the agent may have been released (and the record even reused), or its admission failed.
        if (record.Agent != agent || !record.IsAdmitted || _disposed)
        {
            Monitor.Exit(record);
            ObjectDisposedException.ThrowIf(_disposed, this);
            return null;
        }

        return record;
    }

    /// <summary>Removes an admitted agent's record from the manager's accounts. Caller holds the record's monitor.</summary>
    private void Forget(AgentCache record)
    {
        lock (_gate)
        {
            _agents.Remove(record.Agent);
        }

        Interlocked.Add(ref _totalTokens, -record.Tokens);
        Interlocked.Add(ref _totalBlocks, -(long)record.BlocksPerLayer * record.LayerCount);
        Interlocked.Decrement(ref _agentCount);
        record.IsAdmitted = false;
    }

    /// <summary>
    /// Allocates <paramref name="perLayer"/> blocks on every layer (<paramref name="total"/> in all, at most the pool's
    /// capacity) for the record's agent in one atomic pool call, and appends their handles to the record. The record
    /// grows only after the pool granted the blocks: the handles arrive in the record's scratch when it is large
    /// enough, else in a buffer rented from <see cref="ArrayPool{T}.Shared"/> and given back, so a refused call leaves
    /// the record's arrays exactly as they were (and, once the shared pool holds a buffer of that size, allocates
    /// nothing). Caller holds the record's monitor.
    /// </summary>
    /// <returns><see langword="false"/> if the pool refused for want of blocks and <paramref name="throwOnExhaustion"/> is false.</returns>
    private bool AllocateAllLayersInto(AgentCache record, AgentId agent, int perLayer, int total, bool throwOnExhaustion)
    {
        KvBlock[]? rented = record.Scratch.Length >= total ? null : ArrayPool<KvBlock>.Shared.Rent(total);
        try
        {
            Span<KvBlock> blocks = (rented ?? record.Scratch).AsSpan(0, total);
            if (throwOnExhaustion)
            {
                _pool.AllocateAllLayers(agent, perLayer, blocks);
            }
            else if (!_pool.TryAllocateAllLayers(agent, perLayer, blocks))
            {
                return false;
            }

            try
            {
                record.EnsureRoom(record.BlocksPerLayer + perLayer, total);
            }
            catch
            {
                // Out of memory growing the record: give the blocks back, so the pool and the books still agree.
                _pool.Free(agent, blocks);
                throw;
            }

            record.AppendLayerMajor(blocks, perLayer);
            return true;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<KvBlock>.Shared.Return(rented);
            }
        }
    }

    private AgentCache RentRecord(int layers)
    {
        AgentCache record = _records.Get();

        // Only after a Reconfigure to another layer count can a retained record have the wrong shape.
        return record.LayerCount == layers ? record : new AgentCache(layers);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowNotAdmitted(AgentId agent) =>
        throw new KeyNotFoundException($"{agent} is not admitted to this cache manager: it was never admitted, or it was already released.");
}
