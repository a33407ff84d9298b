using System.Globalization;

namespace KvBlockPool.Persistence;

/// <summary>
/// What a sweep of a <see cref="KvCacheStore"/>'s directory for the temporary files of interrupted saves found and
/// did: see <see cref="KvCacheStore.ReclaimStaleTemporaryFiles"/> and <see cref="KvCacheStore.ReclaimedAtOpen"/>.
/// </summary>
public sealed class KvCacheStoreReclaimReport
{
    internal KvCacheStoreReclaimReport(int deletedFiles, long deletedBytes, int inUseFiles, IReadOnlyList<string> failedFiles)
    {
        DeletedFiles = deletedFiles;
        DeletedBytes = deletedBytes;
        InUseFiles = inUseFiles;
        FailedFiles = failedFiles;
    }

    /// <summary>Stale temporary files deleted: left by saves that were killed, or that failed and could not clean up.</summary>
    public int DeletedFiles { get; }

    /// <summary>Bytes the deleted files held.</summary>
    public long DeletedBytes { get; }

    /// <summary>
    /// Temporary files left alone because a save is writing them: a save of this process (by any store), or a file
    /// another process holds open, as a live save does.
    /// </summary>
    public int InUseFiles { get; }

    /// <summary>Full paths of stale temporary files that could not be deleted (no permission, or an I/O error); empty when all went.</summary>
    public IReadOnlyList<string> FailedFiles { get; }

    /// <summary>A one-line summary, e.g. <c>3 stale temporary file(s) deleted (12582912 bytes), 1 in use, 0 could not be deleted</c>.</summary>
    /// <returns>The summary.</returns>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"{DeletedFiles} stale temporary file(s) deleted ({DeletedBytes} bytes), {InUseFiles} in use, {FailedFiles.Count} could not be deleted");
}
