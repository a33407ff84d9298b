using System.Diagnostics;
using System.Globalization;

namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>
/// Where a host's decode steps spent their time, in <see cref="Stopwatch"/> ticks: the pool's calls (append, lease,
/// end of lease), gathering the past from the blocks into the model's input tensors, the model run, and scattering
/// the new tokens' K and V from the model's <c>present</c> into their block slots.
/// </summary>
public struct StepTimings
{
    /// <summary>Model runs timed (prefills and decode steps).</summary>
    public long Runs;

    /// <summary>The pool's and the cache manager's calls.</summary>
    public long PoolTicks;

    /// <summary>Copying the past out of the blocks, and making the tensors over it.</summary>
    public long GatherTicks;

    /// <summary>ONNX Runtime's <c>Run</c>.</summary>
    public long ModelTicks;

    /// <summary>Copying the new tokens' K and V into their blocks.</summary>
    public long ScatterTicks;

    /// <summary>All four.</summary>
    public readonly long TotalTicks => PoolTicks + GatherTicks + ModelTicks + ScatterTicks;

    /// <summary>Adds another host's timings to these.</summary>
    /// <param name="other">The timings to add.</param>
    public void Add(in StepTimings other)
    {
        Runs += other.Runs;
        PoolTicks += other.PoolTicks;
        GatherTicks += other.GatherTicks;
        ModelTicks += other.ModelTicks;
        ScatterTicks += other.ScatterTicks;
    }

    /// <summary>One line: microseconds per run of each part, and its share.</summary>
    /// <returns>For example <c>model 61.2 µs (84.0%), gather 6.1 µs (8.4%), ...</c>.</returns>
    public readonly string Describe()
    {
        long total = Math.Max(TotalTicks, 1);
        long runs = Math.Max(Runs, 1);
        string Part(string name, long ticks) => string.Create(
            CultureInfo.InvariantCulture,
            $"{name} {ticks * 1e6 / Stopwatch.Frequency / runs:F1} µs ({100.0 * ticks / total:F1}%)");
        return string.Join(", ", Part("model run", ModelTicks), Part("gather", GatherTicks), Part("scatter", ScatterTicks), Part("pool calls", PoolTicks));
    }
}
