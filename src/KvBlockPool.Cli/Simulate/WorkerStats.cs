using HdrHistogram;
using KvBlockPool.Cli.Simulate.SharedPrefix;

namespace KvBlockPool.Cli.Simulate;

/// <summary>One worker's counters and latencies. Written by its worker only; read after the workers finish (progress reads the counts racily, which is fine for a display).</summary>
internal sealed class WorkerStats
{
    private readonly LongHistogram[] _latencies = Enum.GetValues<OperationKind>().Select(_ => LatencyRecording.Create()).ToArray();
    private long _operations;

    public long Operations => Volatile.Read(ref _operations);

    public long Admitted { get; set; }

    public long Completed { get; set; }

    public long Preempted { get; set; }

    public long RolledBack { get; set; }

    public long PromptTokens { get; set; }

    public long DecodedTokens { get; set; }

    public long AdmissionWaits { get; set; }

    public long DecodeWaits { get; set; }

    public long WaitedTicks { get; set; }

    /// <summary>Shared-prefix workload: conversations' first turns.</summary>
    public TurnStats FirstTurns { get; } = new();

    /// <summary>Shared-prefix workload: turns of conversations that came back.</summary>
    public TurnStats ReturningTurns { get; } = new();

    public LongHistogram Latency(OperationKind kind) => _latencies[(int)kind];

    public void Record(OperationKind kind, long nanoseconds)
    {
        LatencyRecording.Record(_latencies[(int)kind], nanoseconds);
        Volatile.Write(ref _operations, _operations + 1);
    }

    public void Add(WorkerStats other)
    {
        for (int i = 0; i < _latencies.Length; i++)
        {
            _latencies[i].Add(other._latencies[i]);
        }

        _operations += other._operations;
        Admitted += other.Admitted;
        Completed += other.Completed;
        Preempted += other.Preempted;
        RolledBack += other.RolledBack;
        PromptTokens += other.PromptTokens;
        DecodedTokens += other.DecodedTokens;
        AdmissionWaits += other.AdmissionWaits;
        DecodeWaits += other.DecodeWaits;
        WaitedTicks += other.WaitedTicks;
        FirstTurns.Add(other.FirstTurns);
        ReturningTurns.Add(other.ReturningTurns);
    }
}
