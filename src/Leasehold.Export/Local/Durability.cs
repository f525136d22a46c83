using Leasehold.Export.Native;
using Microsoft.Extensions.Logging;
using static Leasehold.Export.Local.Descriptors;

namespace Leasehold.Export.Local;

/// <summary>
/// The fsyncs that make a directory change survive a crash before it is answered (<see cref="ExportOptions.SyncDirectoryChanges"/>),
/// and <see cref="Sync"/> itself for any descriptor. A WRITE's or COMMIT's own fsync is <see cref="FileData"/>'s.
/// </summary>
internal sealed class Durability(ExportOptions options, ILogger logger)
{
    /// <summary>
    /// Tests: called with the inode number of every file or directory synced by a directory change (after its fsync
    /// succeeded), on the thread that made the change. Null: nothing is reported (and no statx is spent on it).
    /// </summary>
    public Action<ulong>? Synced { get; set; }

    /// <summary>Tests: when not 0, every directory-change sync fails with this errno instead of calling fsync.</summary>
    public int FailSyncsWith { get; set; }

    /// <summary>
    /// Makes a change to <paramref name="directory"/>'s entries durable, unless <see cref="ExportOptions.SyncDirectoryChanges"/>
    /// is off: fsync(2) of the directory. Returns <see cref="FsStatus.Io"/> when that fails; the change was made, but
    /// is not known to be on disk, so it is not answered as done (knfsd answers its commit_metadata error too).
    /// </summary>
    /// <param name="directory">The resolved O_PATH descriptor of the changed directory.</param>
    /// <param name="change">What was changed ("remove"), for the log.</param>
    public FsStatus SyncEntries(SafeFd directory, string change) =>
        options.SyncDirectoryChanges ? Sync(directory, isPath: true, change) : FsStatus.Ok;

    /// <summary>
    /// <see cref="SyncEntries"/> for a new entry, after the new file itself: its owner and mode were set by separate
    /// calls after it was made (<see cref="NamespaceChanges.FinishCreate"/>), which a journal may commit after the directory's entry,
    /// so the directory's sync alone would not cover them (knfsd commits both too). Only a regular file or a directory
    /// is synced itself: a symlink opens only as O_PATH, on which fsync fails, and opening a device or fifo would have
    /// the device's effects; for those the directory's sync is all, which on ext4 and XFS covers them too unless a
    /// journal commit started between the create and the chown.
    /// </summary>
    /// <param name="directory">The resolved O_PATH descriptor of the directory the entry was made in.</param>
    /// <param name="created">The new file: O_RDONLY for a regular file, O_PATH for a directory (<paramref name="createdIsPath"/>).</param>
    public FsStatus SyncCreated(SafeFd directory, SafeFd created, bool createdIsPath)
    {
        if (!options.SyncDirectoryChanges)
            return FsStatus.Ok;
        FsStatus status = Sync(created, createdIsPath, "create");
        return status == FsStatus.Ok ? Sync(directory, isPath: true, "create") : status;
    }

    /// <summary>
    /// fsync(2) of <paramref name="fd"/>. An O_PATH descriptor (every resolved directory is one) refuses fsync with
    /// EBADF, so for one "." is opened through it for reading: a lookup of the directory's own entry, no path walk
    /// and no new inode. That open costs a few microseconds against the fsync's journal commit.
    /// </summary>
    public FsStatus Sync(SafeFd fd, bool isPath, string change)
    {
        using SafeFd? opened = isPath ? LibC.openat(fd, ".", LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0) : null;
        SafeFd target = opened ?? fd;
        int errno = 0;
        string operation = nameof(LibC.fsync);
        if (target.IsInvalid)
        {
            errno = LibC.LastErrno;
            operation = nameof(LibC.openat);
        }
        else if (FailSyncsWith != 0)
        {
            errno = FailSyncsWith;
        }
        else if (LibC.fsync(target) != 0)
        {
            errno = LibC.LastErrno;
        }

        if (errno != 0)
        {
            Log.SyncFailed(logger, change, operation, Stat(fd, out Statx failed) == 0 ? failed.Ino : 0, errno);
            return FsStatus.Io;
        }
        if (Synced is { } synced && Stat(target, out Statx st) == 0)
            synced(st.Ino);
        return FsStatus.Ok;
    }
}
