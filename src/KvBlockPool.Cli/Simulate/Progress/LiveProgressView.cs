using System.Globalization;
using Spectre.Console;

namespace KvBlockPool.Cli.Simulate.Progress;

/// <summary>The terminal view: a bar for the time run so far and one for the pool's occupancy, redrawn in place.</summary>
internal sealed class LiveProgressView(IAnsiConsole console) : IProgressView
{
    public void Run(Action<Action<ProgressSnapshot>> sampling)
    {
        console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 40 }, new PercentageColumn())
            .Start(context =>
            {
                ProgressTask time = context.AddTask("starting", maxValue: 1);
                ProgressTask occupancy = context.AddTask("pool", maxValue: 1);
                sampling(snapshot =>
                {
                    time.MaxValue = snapshot.Duration.TotalSeconds;
                    time.Value = Math.Min(snapshot.Elapsed.TotalSeconds, time.MaxValue);
                    time.Description = string.Create(
                        CultureInfo.InvariantCulture,
                        $"time {snapshot.Elapsed.TotalSeconds,5:0.0}/{snapshot.Duration.TotalSeconds:0.0} s  agents {snapshot.Agents,4}  ops {snapshot.Operations,12:N0}");
                    occupancy.MaxValue = snapshot.CapacityBlocks;
                    occupancy.Value = snapshot.AllocatedBlocks;
                    occupancy.Description = string.Create(
                        CultureInfo.InvariantCulture,
                        $"occupancy {snapshot.AllocatedBlocks,7:N0}/{snapshot.CapacityBlocks:N0} blocks");
                });
                time.Value = time.MaxValue;
            });
    }
}
