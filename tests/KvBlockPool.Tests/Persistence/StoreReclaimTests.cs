using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// Temporary files of killed saves (issue 13): a store deletes the stale ones when it opens and on demand, reports
/// them, never deletes a save in progress (of this process, through any store, or held open by another process),
/// and never takes one for a saved cache.
/// </summary>
public sealed class StoreReclaimTests : IDisposable
{
    private static readonly AgentId Agent = new(1);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kvcache-reclaim-" + Guid.NewGuid().ToString("N"));

    public StoreReclaimTests()
    {
        Directory.CreateDirectory(_directory);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Opening_a_store_deletes_the_temporary_files_killed_saves_left_and_reports_them()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 60, 2, 1, 1);
        await new KvCacheStore(_directory).SaveAsync(pool, Agent);
        byte[] saved = File.ReadAllBytes(Path.Combine(_directory, "agent_1.kvcache"));

        // As killed saves leave them: the name the store writes, with whatever bytes made it to the disk.
        string[] stale =
        [
            WriteFile($".agent_1.kvcache.{Guid.NewGuid():N}.tmp", 3_000),
            WriteFile($".agent_-7.kvcache.{Guid.NewGuid():N}.tmp", 10),
            WriteFile(".agent_5.kvcache.0123.tmp", 0),
        ];

        // Not names the store writes: never touched.
        string[] foreign =
        [
            WriteFile(".agent_1.kvcache.tmp", 5),
            WriteFile(".agent_01.kvcache.abc.tmp", 5),
            WriteFile(".agent_x.kvcache.abc.tmp", 5),
            WriteFile(".agent_1.kvcache.a.b.tmp", 5),
            WriteFile(".agent_1.kvcache.abc.tmp.keep", 5),
            WriteFile("notes.tmp", 5),
            WriteFile("agent_2.kvcache.partial", 5),
        ];

        var store = new KvCacheStore(_directory);

        Assert.All(stale, path => Assert.False(File.Exists(path), path));
        Assert.All(foreign, path => Assert.True(File.Exists(path), path));
        Assert.Equal(saved, File.ReadAllBytes(store.GetPath(Agent)));
        Assert.Equal([Agent], store.List());
        KvCacheStoreReclaimReport report = store.ReclaimedAtOpen;
        Assert.Equal((3, 3_010L, 0), (report.DeletedFiles, report.DeletedBytes, report.InUseFiles));
        Assert.Empty(report.FailedFiles);
        Assert.Equal("3 stale temporary file(s) deleted (3010 bytes), 0 in use, 0 could not be deleted", report.ToString());
    }

    [Fact]
    public void Reclaiming_again_deletes_what_saves_killed_since_the_store_opened_left()
    {
        var store = new KvCacheStore(_directory);
        Assert.Equal(0, store.ReclaimedAtOpen.DeletedFiles);
        string left = WriteFile($".agent_3.kvcache.{Guid.NewGuid():N}.tmp", 100);
        Assert.Empty(store.List());

        KvCacheStoreReclaimReport report = store.ReclaimStaleTemporaryFiles();

        Assert.Equal((1, 100L), (report.DeletedFiles, report.DeletedBytes));
        Assert.False(File.Exists(left));
        Assert.Equal(0, store.ReclaimStaleTemporaryFiles().DeletedFiles);
    }

    [Fact]
    public async Task A_save_in_progress_in_this_process_is_left_to_finish_by_its_store_and_by_another_store_on_the_directory()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 61, 1, 2, 3);
        byte[][] expected = PersistenceKit.Snapshot(pool, Agent);
        var reached = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var store = new KvCacheStore(_directory)
        {
            BeforeRename = async temporary =>
            {
                reached.SetResult(temporary);
                await release.Task;
            },
        };

        Task<KvCacheHeader> save = store.SaveAsync(pool, Agent);
        string inProgress = await reached.Task.WaitAsync(TimeSpan.FromSeconds(30));
        try
        {
            Assert.True(KvCacheStore.IsTemporaryFileName(Path.GetFileName(inProgress)), inProgress);
            KvCacheStoreReclaimReport own = store.ReclaimStaleTemporaryFiles();
            KvCacheStoreReclaimReport other = new KvCacheStore(_directory).ReclaimedAtOpen;

            Assert.Equal((0, 1), (own.DeletedFiles, own.InUseFiles));
            Assert.Equal((0, 1), (other.DeletedFiles, other.InUseFiles));
            Assert.True(File.Exists(inProgress));
            Assert.Empty(store.List());
            Assert.False(store.Contains(Agent));
        }
        finally
        {
            release.SetResult();
        }

        await save;
        Assert.False(File.Exists(inProgress));
        Assert.Equal([Agent], store.List());
        using BlockPool other2 = TestPools.Create(capacity: 64, layers: 3);
        await store.RestoreAsync(other2, Agent);
        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(other2, Agent));
    }

    [Fact]
    public void A_temporary_file_held_open_as_a_live_save_in_another_process_holds_it_is_left_until_it_is_closed()
    {
        var store = new KvCacheStore(_directory);
        string path = Path.Combine(_directory, $".agent_4.kvcache.{Guid.NewGuid():N}.tmp");

        // Opened as SaveAsync opens its file; the in-process registry does not know it, so only the lock protects it.
        using (var live = new FileStream(path, FileMode.CreateNew, FileAccess.Write, OperatingSystem.IsWindows() ? FileShare.Read | FileShare.Delete : FileShare.Read))
        {
            live.Write(new byte[500]);
            live.Flush();

            KvCacheStoreReclaimReport report = store.ReclaimStaleTemporaryFiles();

            Assert.Equal((0, 1), (report.DeletedFiles, report.InUseFiles));
            Assert.True(File.Exists(path));
        }

        KvCacheStoreReclaimReport after = store.ReclaimStaleTemporaryFiles();
        Assert.Equal((1, 500L, 0), (after.DeletedFiles, after.DeletedBytes, after.InUseFiles));
        Assert.False(File.Exists(path));
    }

    private string WriteFile(string name, int bytes)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, new byte[bytes]);
        return path;
    }
}
