using System.Globalization;

namespace KvBlockPool.Cli.Simulate.Progress;

/// <summary>The view for a file, a pipe or a CI log: one plain line a second, no escape codes, nothing redrawn.</summary>
internal sealed class PlainProgressView(TextWriter output) : IProgressView
{
    private static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(1);

    public void Run(Action<Action<ProgressSnapshot>> sampling)
    {
        TimeSpan next = LineInterval;
        sampling(snapshot =>
        {
            if (snapshot.Elapsed < next)
            {
                return;
            }

            next = snapshot.Elapsed + LineInterval;
            output.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{snapshot.Elapsed.TotalSeconds,5:0.0}/{snapshot.Duration.TotalSeconds:0.0} s  agents {snapshot.Agents,4}  blocks {snapshot.AllocatedBlocks,7:N0}/{snapshot.CapacityBlocks:N0} ({100.0 * snapshot.AllocatedBlocks / snapshot.CapacityBlocks,5:0.0}%)  ops {snapshot.Operations,12:N0}"));
        });
    }
}
