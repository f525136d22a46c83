using Leasehold.Export.LocalAccess;
using Leasehold.Export.Native;

namespace Leasehold.Export.Local;

/// <summary>
/// <see cref="IFileSpace"/> over the local directory: ALLOCATE and DEALLOCATE (fallocate), SEEK (lseek SEEK_DATA /
/// SEEK_HOLE), READ_PLUS's read and IO_ADVISE (posix_fadvise); COPY and CLONE are <see cref="FileCopy"/>'s.
/// </summary>
/// <remarks>
/// A change goes as WRITE goes (LocalDirectoryTree.WriteAsync): read-only check, range checks, the regular file,
/// write permission (or ownership), the gate asked with <see cref="ChangeKind.SpaceChange"/>, then the system call on
/// an own descriptor inside a suspension of our own guard where <c>SelfConflicts</c> says it would break it. With
/// <see cref="ExportOptions.SyncDirectoryChanges"/> (exports(5) sync) the change is fsynced before it is answered, as
/// knfsd's nfsd4_vfs_fallocate commits the metadata.
/// </remarks>
internal sealed class FileSpace(LocalDirectoryTree tree, FileCopy copies) : IFileSpace
{
    public uint CloneBlockSize => copies.CloneBlockSize;

    public ValueTask<FsStatus> AllocateAsync(Caller caller, FileHandle file, long offset, long length, ChangeContext context, CancellationToken cancellationToken)
    {
        if (tree.Options.ReadOnly)
            return new(FsStatus.ReadOnly);
        if (offset < 0 || length <= 0 || length > long.MaxValue - offset)
            return new(FsStatus.Invalid); // fallocate(2): EINVAL for an empty range; past 2^63-1 by the contract
        if ((ulong)(offset + length) > tree.MaxFileSize)
            return new(FsStatus.FileTooBig); // vfs_fallocate's EFBIG past s_maxbytes, before anything is gated
        return ChangeAsync(caller, file, offset, length, mode: 0, "allocate", context, cancellationToken);
    }

    public ValueTask<FsStatus> DeallocateAsync(Caller caller, FileHandle file, long offset, long length, ChangeContext context, CancellationToken cancellationToken)
    {
        if (tree.Options.ReadOnly)
            return new(FsStatus.ReadOnly);
        if (offset < 0 || length <= 0 || length > long.MaxValue - offset)
            return new(FsStatus.Invalid);
        // Nothing lies beyond the largest file: the part of the range there is a hole already (the kernel would
        // refuse it with EFBIG, which is no answer for a range that may end past the end).
        long end = (ulong)(offset + length) > tree.MaxFileSize ? (long)tree.MaxFileSize : offset + length;
        return ChangeAsync(caller, file, offset, Math.Max(end - offset, 0), LibC.FALLOC_FL_PUNCH_HOLE | LibC.FALLOC_FL_KEEP_SIZE, "deallocate", context, cancellationToken);
    }

    /// <summary>fallocate(2) with <paramref name="mode"/> over [offset, offset+length), as a change of the file's space.</summary>
    private async ValueTask<FsStatus> ChangeAsync(Caller caller, FileHandle file, long offset, long length, int mode, string operation,
        ChangeContext context, CancellationToken cancellationToken)
    {
        FsStatus status = tree.ResolveRegular(file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (!ModeBits.Allows(caller, st, ModeBits.Write) && caller.Uid != st.Uid) // owner override, as for WRITE
                return FsStatus.AccessDenied;
            if (length == 0)
                return FsStatus.Ok; // a DEALLOCATE wholly past the largest file: nothing there to free
            using ChangeGrant grant = await tree.Gate.BeginAsync(st.Ino, ChangeKind.SpaceChange, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return LocalDirectoryTree.Refused(grant);
            using var suspension = tree.SuspendFor(st.Ino, ChangeKind.SpaceChange);
            using OwnIo output = tree.OpenOwn(fd, st.Ino, LibC.O_WRONLY);
            if (output.Fd.IsInvalid)
                return tree.OwnOpenFailed(output, operation, st.Ino);
            int result;
            do
            {
                result = LibC.fallocate(output.Fd, mode, offset, length);
            }
            while (result != 0 && LibC.LastErrno == Errno.EINTR);
            if (result != 0)
                return tree.Fail(nameof(LibC.fallocate));
            return tree.Options.SyncDirectoryChanges ? tree.Sync(output.Fd, isPath: false, operation) : FsStatus.Ok;
        }
    }

    public FsResult<long> Seek(Caller caller, FileHandle file, long offset, SeekContent what)
    {
        if (offset < 0)
            return FsStatus.Invalid;
        if (what is not (SeekContent.Data or SeekContent.Hole))
            return FsStatus.Invalid;
        FsStatus status = OpenForReading(caller, file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            using OwnIo data = tree.OpenOwn(fd, st.Ino, LibC.O_RDONLY);
            if (data.Fd.IsInvalid)
                return tree.OwnOpenFailed(data, "seek", st.Ino);
            long found = LibC.lseek(data.Fd, offset, what == SeekContent.Data ? LibC.SEEK_DATA : LibC.SEEK_HOLE);
            return found >= 0 ? found : tree.Fail(nameof(LibC.lseek)); // ENXIO: NoData
        }
    }

    public FsResult<(int Count, bool EndOfFile)> ReadSegments(Caller caller, FileHandle file, long offset, Span<byte> destination, List<FileSegment> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        segments.Clear();
        if (offset < 0)
            return FsStatus.Invalid;
        if (destination.Length > long.MaxValue - offset)
            destination = destination[..(int)(long.MaxValue - offset)]; // as Read: no file reaches past 2^63-1
        FsStatus status = OpenForReading(caller, file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            using OwnIo data = tree.OpenOwn(fd, st.Ino, LibC.O_RDONLY);
            if (data.Fd.IsInvalid)
                return tree.OwnOpenFailed(data, "read", st.Ino);
            if (LocalDirectoryTree.Stat(data.Fd, out st) != 0)
                return tree.Fail(nameof(LibC.statx));
            long size = (long)Math.Min(st.Size, long.MaxValue);
            long end = offset >= size ? offset : Math.Min(size, offset + destination.Length);
            long at = offset;
            while (at < end)
            {
                long next = LibC.lseek(data.Fd, at, LibC.SEEK_DATA);
                if (next < 0)
                {
                    if (LibC.LastErrno != Errno.ENXIO)
                        return tree.Fail(nameof(LibC.lseek));
                    next = end; // only a hole follows (or the file shrank under us): the rest reads as zeros
                }
                if (next > at)
                {
                    long holeEnd = Math.Min(next, end);
                    Add(segments, at, holeEnd - at, isHole: true);
                    at = holeEnd;
                    continue;
                }
                long dataEnd = LibC.lseek(data.Fd, at, LibC.SEEK_HOLE);
                if (dataEnd < 0)
                {
                    if (LibC.LastErrno != Errno.ENXIO)
                        return tree.Fail(nameof(LibC.lseek));
                    break; // the file shrank below `at`
                }
                dataEnd = Math.Min(dataEnd, end);
                var read = ReadAt(data.Fd, at, destination.Slice((int)(at - offset), (int)(dataEnd - at)));
                if (!read.IsOk)
                    return read.Status;
                if (read.Value > 0)
                    Add(segments, at, read.Value, isHole: false);
                at += read.Value;
                if (at < dataEnd)
                    break; // end of file before the data ended: it shrank under us
            }
            if (LocalDirectoryTree.Stat(data.Fd, out st) != 0)
                return tree.Fail(nameof(LibC.statx));
            return ((int)(at - offset), (ulong)at >= st.Size);
        }
    }

    public ValueTask<FsResult<CopyOutcome>> CopyAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, WriteStability stability, ChangeContext context, Action<long>? progress, CancellationToken cancellationToken) =>
        copies.CopyAsync(caller, source, sourceOffset, destination, destinationOffset, count, stability, context, progress, cancellationToken);

    public ValueTask<FsStatus> CloneAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, ChangeContext context, CancellationToken cancellationToken) =>
        copies.CloneAsync(caller, source, sourceOffset, destination, destinationOffset, count, context, cancellationToken);

    /// <summary>
    /// IO_ADVISE: only the hints that act on the file's page cache, which every later reader shares: WillNeed (starts
    /// readahead) and DontNeed (drops clean cached pages). Normal, Sequential, Random and NoReuse change only the open
    /// file they are given on (its readahead window, FMODE_RANDOM, FMODE_NOREUSE); ours is closed when this returns and
    /// READs use other descriptors, so claiming them would be a lie: they are left out. WillNeed with DontNeed
    /// contradict each other: neither is applied.
    /// </summary>
    public FsResult<FileAdvice> Advise(Caller caller, FileHandle file, long offset, long length, FileAdvice advice)
    {
        if (offset < 0 || length < 0)
            return FsStatus.Invalid;
        FsStatus status = OpenForReading(caller, file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            bool willNeed = (advice & FileAdvice.WillNeed) != 0, dontNeed = (advice & FileAdvice.DontNeed) != 0;
            if (willNeed == dontNeed)
                return FileAdvice.None;
            using OwnIo data = tree.OpenOwn(fd, st.Ino, LibC.O_RDONLY);
            if (data.Fd.IsInvalid)
                return tree.OwnOpenFailed(data, "advise", st.Ino);
            // posix_fadvise takes len 0 as "to the end"; a range past 2^63-1 is cut there (the kernel does the same).
            long len = length > long.MaxValue - offset ? 0 : length;
            int error = LibC.posix_fadvise(data.Fd, offset, len, willNeed ? LibC.POSIX_FADV_WILLNEED : LibC.POSIX_FADV_DONTNEED);
            if (error != 0)
                return error == Errno.EINVAL ? FileAdvice.None : tree.Fail(nameof(LibC.posix_fadvise), error);
            return willNeed ? FileAdvice.WillNeed : FileAdvice.DontNeed;
        }
    }

    internal LocalDirectoryTree Tree => tree;

    /// <summary>The regular file behind <paramref name="file"/>, if the caller may read it (read or execute bits, or ownership, as READ).</summary>
    private FsStatus OpenForReading(Caller caller, FileHandle file, out SafeFd fd, out Statx st)
    {
        FsStatus status = tree.ResolveRegular(file, out fd, out st);
        if (status != FsStatus.Ok)
            return status;
        if (ModeBits.Allows(caller, st, ModeBits.Read) || caller.Uid == st.Uid || ModeBits.Allows(caller, st, ModeBits.Execute))
            return FsStatus.Ok;
        fd.Dispose();
        fd = null!;
        return FsStatus.AccessDenied;
    }

    /// <summary>Appends a segment, merged into the last one when it continues it with the same content.</summary>
    private static void Add(List<FileSegment> segments, long offset, long length, bool isHole)
    {
        if (segments.Count > 0 && segments[^1] is var last && last.IsHole == isHole && last.Offset + last.Length == offset)
            segments[^1] = last with { Length = last.Length + length };
        else
            segments.Add(new FileSegment(offset, length, isHole));
    }

    /// <summary>pread until <paramref name="destination"/> is full or the file ends: the bytes read.</summary>
    private FsResult<int> ReadAt(SafeFd data, long offset, Span<byte> destination)
    {
        int total = Descriptors.ReadFully(data, offset, destination);
        return total < 0 ? tree.Fail(nameof(LibC.pread)) : total;
    }
}
