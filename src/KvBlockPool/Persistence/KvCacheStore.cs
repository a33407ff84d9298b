using System.Collections.Concurrent;
using System.Globalization;

namespace KvBlockPool.Persistence;

/// <summary>
/// Saved KV caches in one directory, one file per agent (<c>agent_&lt;id&gt;.kvcache</c>). A save is atomic on disk:
/// it writes a temporary file in the same directory, flushes it to the device, then renames it over the old one,
/// so a crash mid-save leaves the previous version intact, never a torn file. On Linux, macOS and FreeBSD the
/// directory is then flushed too (best effort), so the rename is on the device once the save has returned.
/// </summary>
/// <remarks>
/// <para>
/// Safe to use from several threads; saves of the same agent race only at the rename, and the last one wins
/// whole. Several stores, in this process or in others, may share a directory.
/// </para>
/// <para>
/// A save killed before its rename leaves its temporary file (<c>.agent_&lt;id&gt;.kvcache.&lt;32 hex digits&gt;.tmp</c>),
/// as large as the cache. <see cref="List"/> and every other method never take one for a saved cache. Opening a
/// store deletes the stale ones (<see cref="ReclaimedAtOpen"/> says what went), and
/// <see cref="ReclaimStaleTemporaryFiles"/> does it again on demand. A temporary file is stale unless a save is
/// writing it: a save holds its file open (locked against exclusive opens) from creation until after its rename,
/// and saves of this process are also registered in the process, so neither a save of this process (through any
/// store) nor a live save of another process is ever deleted. The lock is .NET's advisory file lock on Unix:
/// do not reclaim while a process that disabled it (<c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c>) is saving into
/// the directory, or on a network file system (NFS, SMB), where .NET takes no lock for a file opened for writing.
/// </para>
/// </remarks>
public sealed class KvCacheStore
{
    private const string Prefix = "agent_";
    private const string Extension = ".kvcache";
    private const string TemporaryPrefix = "." + Prefix;
    private const string TemporarySuffix = ".tmp";
    private const int MaxTemporaryTokenLength = 64;
    private readonly int _maxDegreeOfParallelism = KvCacheReader.DefaultMaxDegreeOfParallelism;

    private const int FileBufferBytes = 0; // blocks are written and read whole, straight from and into native memory (the inspector reads through a pipe); a FileStream buffer would only copy again

    /// <summary>
    /// Temporary files of the saves in progress in this process, by full path, whichever store runs them: a reclaim
    /// skips them even in the instant between a save creating its file and locking it.
    /// </summary>
    private static readonly ConcurrentDictionary<string, byte> SavesInProgress = new(StringComparer.Ordinal);

    /// <summary>
    /// Opens (and creates if needed) a store in <paramref name="directory"/>, and deletes the temporary files that
    /// saves killed before their rename left there (see <see cref="ReclaimedAtOpen"/>).
    /// </summary>
    /// <param name="directory">The directory that holds the files.</param>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is null or empty.</exception>
    /// <exception cref="IOException">The directory cannot be created or read.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory cannot be created or read.</exception>
    public KvCacheStore(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = System.IO.Directory.CreateDirectory(directory).FullName;
        ReclaimedAtOpen = ReclaimStaleTemporaryFiles();
    }

    /// <summary>
    /// What opening the store reclaimed: the stale temporary files of interrupted saves it deleted (count and bytes),
    /// those it left because a save is writing them, and those it could not delete.
    /// </summary>
    public KvCacheStoreReclaimReport ReclaimedAtOpen { get; }

    /// <summary>
    /// How many threads <see cref="RestoreAsync"/> may use to read and check a file's layers at once; the default,
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
        string temporary = Path.Combine(Directory, TemporaryFileName(agent));
        SavesInProgress.TryAdd(temporary, 0);
        try
        {
            KvCacheHeader header;

            // Held open, and so locked against a reclaim's exclusive open, until after the rename: a complete file
            // waiting for its rename is never taken for a stale one. Shared reads are allowed, so a load of the
            // renamed file in that instant is not refused; Windows needs delete sharing to rename an open file.
            FileShare share = OperatingSystem.IsWindows() ? FileShare.Read | FileShare.Delete : FileShare.Read;
            var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, share, FileBufferBytes, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                header = await KvCacheWriter.SaveAsync(pool, agent, file, tokenCount, cancellationToken).ConfigureAwait(false);

                // Durable before it becomes visible: the rename must never publish bytes still in the page cache only.
                file.Flush(flushToDisk: true);
                if (BeforeRename is { } hook)
                {
                    await hook(temporary).ConfigureAwait(false);
                }

                File.Move(temporary, target, overwrite: true);
            }

            DirectoryFlush.TryFlush(Directory); // the rename itself durable, where the platform allows it
            return header;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
        finally
        {
            SavesInProgress.TryRemove(temporary, out _);
        }
    }

    /// <summary>
    /// Deletes the temporary files that saves killed before their rename (or failed saves that could not clean up)
    /// left in the directory, and reports them. Temporary files a save is writing (a save of this process through
    /// any store, or a file another process holds open, as its live save does) are left alone and counted as in
    /// use. Saved caches and files the store does not own are never touched. Opening a store does this once
    /// (<see cref="ReclaimedAtOpen"/>); call it again to reclaim space after saves were killed while the store was open.
    /// </summary>
    /// <returns>What was deleted (files and bytes), what was in use, and what could not be deleted.</returns>
    /// <exception cref="IOException">The directory cannot be read; files deleted before the error stay deleted.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory cannot be read.</exception>
    public KvCacheStoreReclaimReport ReclaimStaleTemporaryFiles()
    {
        int deleted = 0;
        long bytes = 0;
        int inUse = 0;
        List<string>? failed = null;
        foreach (string path in System.IO.Directory.EnumerateFiles(Directory, TemporaryPrefix + "*" + TemporarySuffix))
        {
            if (!IsTemporaryFileName(Path.GetFileName(path)))
            {
                continue; // not a name this store writes: not ours to delete
            }

            if (SavesInProgress.ContainsKey(path))
            {
                inUse++;
                continue;
            }

            switch (TryDeleteStale(path, out long length))
            {
                case StaleFile.Deleted:
                    deleted++;
                    bytes += length;
                    break;
                case StaleFile.InUse:
                    inUse++;
                    break;
                case StaleFile.Failed:
                    (failed ??= []).Add(path);
                    break;
                default:
                    break; // gone meanwhile: its save renamed or deleted it
            }
        }

        return new KvCacheStoreReclaimReport(deleted, bytes, inUse, failed is null ? [] : failed.ToArray());
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
    public async Task<KvCacheHeader> RestoreAsync(BlockPool pool, AgentId agent, AgentId? asAgent = null, CancellationToken cancellationToken = default)
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

    /// <summary>The agents with a saved cache in the store, in id order; never a save's temporary file, finished or not.</summary>
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

    /// <summary>Runs after a save's temporary file is written and flushed, before its rename, while it is still open; a test hook to hold a save in progress.</summary>
    internal Func<string, Task>? BeforeRename { get; set; }

    /// <summary>
    /// Whether <paramref name="fileName"/> is a temporary file name a store writes:
    /// <c>.agent_&lt;id&gt;.kvcache.&lt;token&gt;.tmp</c>, with the id as <see cref="FileName"/> writes it and a token of 1 to 64
    /// letters, digits, '-' or '_' (saves write 32 hex digits; any such token is recognised, so files of older saves go too).
    /// </summary>
    internal static bool IsTemporaryFileName(string fileName)
    {
        if (!fileName.StartsWith(TemporaryPrefix, StringComparison.Ordinal) || !fileName.EndsWith(TemporarySuffix, StringComparison.Ordinal))
        {
            return false;
        }

        ReadOnlySpan<char> middle = fileName.AsSpan(1, fileName.Length - 1 - TemporarySuffix.Length); // agent_<id>.kvcache.<token>
        int dot = middle.LastIndexOf('.');
        if (dot < 0)
        {
            return false;
        }

        ReadOnlySpan<char> token = middle[(dot + 1)..];
        ReadOnlySpan<char> name = middle[..dot];
        if (token.IsEmpty || token.Length > MaxTemporaryTokenLength || token.ContainsAnyExcept(TemporaryTokenChars))
        {
            return false;
        }

        return name.EndsWith(Extension, StringComparison.Ordinal)
            && name.Length > Prefix.Length + Extension.Length
            && long.TryParse(name[Prefix.Length..^Extension.Length], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long id)
            && name.SequenceEqual(FileName(new AgentId(id)));
    }

    private static readonly System.Buffers.SearchValues<char> TemporaryTokenChars =
        System.Buffers.SearchValues.Create("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_");

    private static string FileName(AgentId agent) => string.Create(CultureInfo.InvariantCulture, $"{Prefix}{agent.Value}{Extension}");

    private static string TemporaryFileName(AgentId agent) => string.Create(CultureInfo.InvariantCulture, $".{FileName(agent)}.{Guid.NewGuid():N}{TemporarySuffix}");

    /// <summary>
    /// Deletes a temporary file no save is writing. An exclusive open tells: a live save holds its file open
    /// (on Unix, .NET's shared advisory lock; on Windows, an open handle) until after its rename, and a killed
    /// process's lock died with it.
    /// </summary>
    private static StaleFile TryDeleteStale(string path, out long length)
    {
        length = 0;
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, bufferSize: 1, FileOptions.None);
            length = probe.Length;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return StaleFile.Gone; // its save renamed or deleted it meanwhile
        }
        catch (UnauthorizedAccessException)
        {
            return StaleFile.Failed;
        }
        catch (IOException)
        {
            // The exclusive open was refused: a save holds the file (or it vanished in between).
            return File.Exists(path) ? StaleFile.InUse : StaleFile.Gone;
        }

        try
        {
            // Nothing reopens it now: names are unique, and the save that made it is gone.
            File.Delete(path);
            return StaleFile.Deleted;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return StaleFile.Failed;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a leftover temporary file is never mistaken for a saved cache, and the next reclaim deletes it.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }

    private enum StaleFile
    {
        Gone,
        Deleted,
        InUse,
        Failed,
    }
}
