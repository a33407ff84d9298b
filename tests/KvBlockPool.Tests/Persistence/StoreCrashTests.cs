using System.Diagnostics;
using KvBlockPool.Persistence;
using KvBlockPool.Tests.Lifecycle;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// Crash consistency of <see cref="KvCacheStore"/> (issue 13, "killed saves leave temporary files forever"): a
/// child process saves over an existing agent file in a loop and is killed at random points. After every kill the
/// file is the complete old or the complete new cache, byte for byte, and opening the store reclaims every
/// temporary file the killed save left.
/// </summary>
[Collection(ProcessWideCollection.Name)] // alone: the child's saves are timed against the kills
public sealed class StoreCrashTests(ITestOutputHelper output) : IDisposable
{
    private const int Kills = 10;
    private static readonly TimeSpan ChildTimeout = TimeSpan.FromSeconds(60);

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kvcache-crash-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_save_killed_at_random_points_leaves_the_old_or_the_new_cache_whole_and_opening_the_store_reclaims_its_temporary_file()
    {
        byte[][] contents = [SaveLoopChild.Render(0), SaveLoopChild.Render(1)];
        byte[][] files = [await ReferenceFileAsync(contents[0]), await ReferenceFileAsync(contents[1])];
        using (BlockPool pool = SaveLoopChild.NewPool())
        {
            SaveLoopChild.CopyIn(pool, contents[0]);
            await new KvCacheStore(_directory).SaveAsync(pool, SaveLoopChild.Agent); // the old version the first child saves over
        }

        var random = new Random(13);
        var watch = Stopwatch.StartNew();
        int onDisk = 0, killsMidSave = 0, saves = 0, changes = 0;
        long reclaimedBytes = 0;
        for (int kill = 0; kill < Kills; kill++)
        {
            double phase = random.NextDouble();
            saves += await RunChildAndKillAsync(firstVersion: 1 - onDisk, phase);

            string[] left = TemporaryFiles();
            killsMidSave += left.Length > 0 ? 1 : 0;
            var store = new KvCacheStore(_directory);

            Assert.Empty(TemporaryFiles());
            Assert.Equal(left.Length, store.ReclaimedAtOpen.DeletedFiles);
            Assert.Equal(0, store.ReclaimedAtOpen.InUseFiles);
            reclaimedBytes += store.ReclaimedAtOpen.DeletedBytes;
            Assert.Equal([SaveLoopChild.Agent], store.List());

            byte[] file = await File.ReadAllBytesAsync(store.GetPath(SaveLoopChild.Agent));
            int version = Array.FindIndex(files, f => f.AsSpan().SequenceEqual(file));
            Assert.True(version >= 0, $"kill {kill} at {phase:P0} of a save cycle left a file of {file.Length} bytes that is neither version ({files[0].Length} bytes)");
            changes += version != onDisk ? 1 : 0;
            onDisk = version;

            using BlockPool restored = SaveLoopChild.NewPool();
            await store.RestoreAsync(restored, SaveLoopChild.Agent);
            var buffer = new byte[contents[version].Length];
            CopyOut(restored, buffer);
            Assert.True(buffer.AsSpan().SequenceEqual(contents[version]), $"kill {kill}: the restored cache differs from version {version}");
        }

        output.WriteLine($"{Kills} kills in {watch.Elapsed.TotalSeconds:F1} s: {killsMidSave} mid-save (a temporary file left, {reclaimedBytes:N0} bytes reclaimed on open), {saves} saves completed, the file changed version {changes} time(s)");
        Assert.True(killsMidSave > 0, "no kill landed in a save: the test proved nothing about temporary files");
    }

    private string[] TemporaryFiles() => Directory.GetFiles(_directory, ".agent_*.tmp");

    private static async Task<byte[]> ReferenceFileAsync(byte[] content)
    {
        using BlockPool pool = SaveLoopChild.NewPool();
        SaveLoopChild.CopyIn(pool, content);
        using var stream = new MemoryStream();
        await KvCacheWriter.SaveAsync(pool, SaveLoopChild.Agent, stream);
        return stream.ToArray();
    }

    private static void CopyOut(BlockPool pool, byte[] destination)
    {
        AgentBlocks view = pool.GetAgentBlocks(SaveLoopChild.Agent);
        int offset = 0;
        for (int layer = 0; layer < view.LayerCount; layer++)
        {
            foreach (KvBlock block in view.GetBlocks(layer))
            {
                pool.GetBlockSpan(block).CopyTo(destination.AsSpan(offset));
                offset += pool.Spec.BytesPerBlock;
            }
        }
    }

    /// <summary>
    /// Starts the child and lets it complete two saves, which time one save cycle (copy in, write, flush to the
    /// device, rename, flush the directory); kills it <paramref name="phase"/> of a cycle later, so kills land at
    /// uniformly random points of a save. Returns the saves the child completed.
    /// </summary>
    private async Task<int> RunChildAndKillAsync(int firstVersion, double phase)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(typeof(SaveLoopChild).Assembly.Location);
        start.ArgumentList.Add(SaveLoopChild.Mode);
        start.ArgumentList.Add(_directory);
        start.ArgumentList.Add(firstVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var twoSaves = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int saved = 0;
        long[] savedAt = new long[2];
        var errors = new System.Text.StringBuilder();
        using var child = new Process { StartInfo = start };
        child.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.StartsWith("saved ", StringComparison.Ordinal) == true)
            {
                int count = Interlocked.Increment(ref saved);
                if (count <= 2)
                {
                    savedAt[count - 1] = Stopwatch.GetTimestamp();
                }

                if (count == 2)
                {
                    twoSaves.TrySetResult();
                }
            }
        };
        child.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }
        };
        child.Start();
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        try
        {
            Task exited = child.WaitForExitAsync();
            if (await Task.WhenAny(twoSaves.Task, exited, Task.Delay(ChildTimeout)) != twoSaves.Task)
            {
                Assert.Fail($"The save-loop child did not get to its second save (exited: {child.HasExited}). Its errors: {errors}");
            }

            TimeSpan cycle = Stopwatch.GetElapsedTime(savedAt[0], savedAt[1]);
            await Task.Delay(cycle * phase);
            Assert.False(child.HasExited, $"The save-loop child stopped by itself. Its errors: {errors}");
        }
        finally
        {
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync().WaitAsync(ChildTimeout);
        }

        return Volatile.Read(ref saved);
    }

    /// <summary>The <c>dotnet</c> host running the tests (the SDK sets DOTNET_HOST_PATH for them), else the one on the PATH.</summary>
    private static string DotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
        {
            return host;
        }

        string? self = Environment.ProcessPath;
        return self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase) ? self : "dotnet";
    }
}
