using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

public sealed class StoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kvcache-store-" + Guid.NewGuid().ToString("N"));
    private readonly KvCacheStore _store;

    public StoreTests()
    {
        _store = new KvCacheStore(_directory);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Saves_are_listed_loaded_and_deleted_by_agent_id()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        foreach (long id in new long[] { 3, -1, 20 })
        {
            PersistenceKit.Fill(pool, new AgentId(id), seed: (int)id + 40, 1, 1, 1);
            await _store.SaveAsync(pool, new AgentId(id));
        }

        File.WriteAllText(Path.Combine(_directory, "agent_x.kvcache"), "not ours");
        File.WriteAllText(Path.Combine(_directory, ".agent_5.kvcache.0123.tmp"), "a crashed save");
        Assert.Equal([new AgentId(-1), new AgentId(3), new AgentId(20)], _store.List());

        byte[][] expected = PersistenceKit.Snapshot(pool, new AgentId(3));
        pool.FreeAgent(new AgentId(3));
        await _store.RestoreAsync(pool, new AgentId(3));
        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(pool, new AgentId(3)));

        Assert.True(_store.Contains(new AgentId(20)));
        Assert.True(_store.Delete(new AgentId(20)));
        Assert.False(_store.Delete(new AgentId(20)));
        Assert.Equal([new AgentId(-1), new AgentId(3)], _store.List());
        Assert.True((await _store.InspectAsync(new AgentId(-1))).IsValid);
    }

    [Fact]
    public async Task A_save_replaces_the_previous_version_whole()
    {
        var agent = new AgentId(1);
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, agent, seed: 50, 1, 1, 1);
        await _store.SaveAsync(pool, agent);
        PersistenceKit.Fill(pool, agent, seed: 51, 2, 0, 0);
        byte[][] expected = PersistenceKit.Snapshot(pool, agent);
        await _store.SaveAsync(pool, agent);

        using BlockPool other = TestPools.Create(capacity: 64, layers: 3);
        KvCacheHeader header = await _store.RestoreAsync(other, agent);
        Assert.Equal([3, 1, 1], header.BlocksPerLayer);
        PersistenceKit.AssertSameBytes(expected, PersistenceKit.Snapshot(other, agent));
        Assert.Single(Directory.GetFiles(_directory));
    }

    [Fact]
    public async Task A_failed_save_keeps_the_previous_version_and_leaves_no_temporary_file()
    {
        var agent = new AgentId(1);
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, agent, seed: 52, 1, 1, 1);
        await _store.SaveAsync(pool, agent);
        byte[] previous = File.ReadAllBytes(_store.GetPath(agent));

        PersistenceKit.Fill(pool, agent, seed: 53, 4, 4, 4);
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _store.SaveAsync(pool, agent, cancellationToken: cancel.Token));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _store.SaveAsync(pool, agent, tokenCount: 1_000));

        Assert.Equal(previous, File.ReadAllBytes(_store.GetPath(agent)));
        Assert.Single(Directory.GetFiles(_directory));
        Assert.Equal(0, pool.GetPinCount(agent));
    }

    [Fact]
    public async Task Loading_into_a_pool_of_another_spec_is_refused_with_both_specs_and_changes_nothing()
    {
        var agent = new AgentId(9);
        using (BlockPool pool = TestPools.Create(capacity: 64, layers: 3))
        {
            PersistenceKit.Fill(pool, agent, seed: 54, 1, 1, 1);
            await _store.SaveAsync(pool, agent);
        }

        using BlockPool other = TestPools.Create(capacity: 64, spec: PersistenceKit.OtherSpec);
        KvCacheSpecMismatchException error = await PersistenceKit.AssertRefusedAsync<KvCacheSpecMismatchException>(other, () => _store.RestoreAsync(other, agent), beforeAllocating: true);
        Assert.Contains("Float16", error.Message, StringComparison.Ordinal);
        Assert.Contains("BFloat16", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Loading_an_agent_that_was_never_saved_throws_file_not_found()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        await Assert.ThrowsAsync<FileNotFoundException>(() => _store.RestoreAsync(pool, new AgentId(77)));
        Assert.Empty(_store.List());
    }

    [Fact]
    public void The_directory_flush_after_a_rename_works_here_and_reports_a_directory_it_cannot_open()
    {
        Assert.Equal(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD(), DirectoryFlush.TryFlush(_directory));
        Assert.False(DirectoryFlush.TryFlush(Path.Combine(_directory, "no-such-directory")));
    }
}
