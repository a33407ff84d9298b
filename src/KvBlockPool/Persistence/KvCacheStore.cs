using System.Globalization;

namespace KvBlockPool.Persistence;

/// <summary>
/// Saved KV caches in one directory, one file per agent (<c>agent_&lt;id&gt;.kvcache</c>). A save is atomic on disk:
/// it writes a temporary file in the same directory, flushes it to the device, then renames it over the old one,
/// so a crash mid-save leaves the previous version intact, never a torn file. On Linux, macOS and FreeBSD the
/// directory is then flushed too (best effort), so the rename is on the device once the save has returned.
/// </summary>
/// <remarks>
/// Safe to use from several threads; saves of the same agent race only at the rename, and the last one wins
/// whole. Temporary files of a crashed save (<c>.agent_&lt;id&gt;.kvcache.*.tmp</c>) are ignored by
/// <see cref="List"/> and may be deleted.
/// </remarks>
public sealed class KvCacheStore
{
    private const string Prefix = "agent_";
    private const string Extension = ".kvcache";
    private readonly int _maxDegreeOfParallelism = KvCacheReader.DefaultMaxDegreeOfParallelism;

    private const int FileBufferBytes = 0; // blocks are written and read whole, straight from and into native memory (the inspector reads through a pipe); a FileStream buffer would only copy again

    /// <summary>Opens (and creates if needed) a store in <paramref name="directory"/>.</summary>
    /// <param name="directory">The directory that holds the files.</param>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is null or empty.</exception>
    /// <exception cref="IOException">The directory cannot be created.</exception>
    public KvCacheStore(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = System.IO.Directory.CreateDirectory(directory).FullName;
    }

    /// <summary>
    /// How many threads <see cref="LoadAsync"/> may use to read and check a file's layers at once; the default,
    /// <see cref="KvCacheReader.DefaultMaxDegreeOfParallelism"/>, reached the plain-read floor on a 2-core machine.
    /// Set 1 to keep a load on one thread.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int MaxDegreeOfParallelism
    {
        get => _maxDegreeOfParallelism;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _maxDegreeOfParallelism = value;
        }
    }

    /// <summary>The store's directory, as a full path.</summary>
    public string Directory { get; }

    /// <summary>The file that holds <paramref name="agent"/>'s saved cache (whether or not it exists).</summary>
    /// <param name="agent">The agent.</param>
    /// <returns>A full path.</returns>
    public string GetPath(AgentId agent) => Path.Combine(Directory, FileName(agent));

    /// <summary>Whether a saved cache exists for <paramref name="agent"/>.</summary>
    /// <param name="agent">The agent.</param>
    /// <returns><see langword="true"/> if its file exists.</returns>
    public bool Contains(AgentId agent) => File.Exists(GetPath(agent));

    /// <summary>Saves <paramref name="agent"/>'s cache atomically, replacing any earlier save of it.</summary>
    /// <param name="pool">The pool holding the cache.</param>
    /// <param name="agent">The agent; it must hold at least one block.</param>
    /// <param name="tokenCount">Tokens the cache holds; <see langword="null"/> records the capacity of the longest layer's blocks.</param>
    /// <param name="cancellationToken">Cancels the save; the earlier file, if any, is kept.</param>
    /// <returns>The header that was written.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pool"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="agent"/> holds no blocks.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokenCount"/> is negative or more than the blocks hold.</exception>
    /// <exception cref="IOException">Writing failed; the earlier file, if any, is kept.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled; the earlier file, if any, is kept.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    public async Task<KvCacheHeader> SaveAsync(BlockPool pool, AgentId agent, long? tokenCount = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        string target = GetPath(agent);
        string temporary = Path.Combine(Directory, string.Create(CultureInfo.InvariantCulture, $".{FileName(agent)}.{Guid.NewGuid():N}.tmp"));
        try
        {
            KvCacheHeader header;
            var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileBufferBytes, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                header = await KvCacheWriter.SaveAsync(pool, agent, file, tokenCount, cancellationToken).ConfigureAwait(false);

                // Durable before it becomes visible: the rename must never publish bytes still in the page cache only.
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, target, overwrite: true);
            DirectoryFlush.TryFlush(Directory); // the rename itself durable, where the platform allows it
            return header;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>Restores <paramref name="agent"/>'s saved cache into <paramref name="pool"/>.</summary>
    /// <param name="pool">The pool; its spec must equal the saved one.</param>
    /// <param name="agent">The agent whose file to load.</param>
    /// <param name="asAgent">The agent to restore as; <see langword="null"/> restores as <paramref name="agent"/>. It must hold no blocks.</param>
    /// <param name="cancellationToken">Cancels the restore; nothing changes.</param>
    /// <returns>The header of the restored cache.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pool"/> is null.</exception>
    /// <exception cref="FileNotFoundException">No cache is saved for <paramref name="agent"/>.</exception>
    /// <exception cref="ArgumentException">The target agent already holds blocks.</exception>
    /// <exception cref="KvCacheSpecMismatchException">The file was saved with another spec (both are in the message); nothing changed.</exception>
    /// <exception cref="KvCacheFormatException">The file is not a valid saved cache; nothing changed.</exception>
    /// <exception cref="BlockPoolExhaustedException">The pool has too few free blocks; nothing changed.</exception>
    /// <exception cref="IOException">Reading failed; nothing changed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled; nothing changed.</exception>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    public async Task<KvCacheHeader> LoadAsync(BlockPool pool, AgentId agent, AgentId? asAgent = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        FileStream file = OpenForRead(GetPath(agent));
        await using (file.ConfigureAwait(false))
        {
            return await KvCacheReader.RestoreAsync(pool, file, asAgent ?? agent, MaxDegreeOfParallelism, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Validates <paramref name="agent"/>'s saved cache without restoring it.</summary>
    /// <param name="agent">The agent.</param>
    /// <param name="cancellationToken">Cancels the inspection.</param>
    /// <returns>The report.</returns>
    /// <exception cref="FileNotFoundException">No cache is saved for <paramref name="agent"/>.</exception>
    /// <exception cref="IOException">Reading failed.</exception>
    public Task<KvCacheInspectionReport> InspectAsync(AgentId agent, CancellationToken cancellationToken = default) =>
        KvCacheInspector.InspectFileAsync(GetPath(agent), cancellationToken);

    /// <summary>The agents with a saved cache in the store, in id order.</summary>
    /// <returns>A new list.</returns>
    /// <exception cref="IOException">The directory cannot be read.</exception>
    public IReadOnlyList<AgentId> List()
    {
        var agents = new List<AgentId>();
        foreach (string path in System.IO.Directory.EnumerateFiles(Directory, Prefix + "*" + Extension))
        {
            string name = Path.GetFileName(path);
            if (name.EndsWith(Extension, StringComparison.Ordinal)
                && long.TryParse(name.AsSpan(Prefix.Length, name.Length - Prefix.Length - Extension.Length), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long id)
                && FileName(new AgentId(id)) == name)
            {
                agents.Add(new AgentId(id));
            }
        }

        agents.Sort((a, b) => a.Value.CompareTo(b.Value));
        return agents;
    }

    /// <summary>Deletes <paramref name="agent"/>'s saved cache.</summary>
    /// <param name="agent">The agent.</param>
    /// <returns><see langword="true"/> if a file was deleted; <see langword="false"/> if there was none.</returns>
    /// <exception cref="IOException">The file exists but cannot be deleted.</exception>
    public bool Delete(AgentId agent)
    {
        string path = GetPath(agent);
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }

    internal static FileStream OpenForRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileBufferBytes, FileOptions.Asynchronous | FileOptions.SequentialScan);

    private static string FileName(AgentId agent) => string.Create(CultureInfo.InvariantCulture, $"{Prefix}{agent.Value}{Extension}");

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a leftover temporary file is ignored by List and never mistaken for a saved cache.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }
}
