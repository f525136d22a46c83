using Leasehold.Export.LocalAccess;
using Leasehold.Export.Native;

namespace Leasehold.Export.Local;

/// <summary>
/// COPY (copy_file_range) and CLONE (FICLONERANGE) inside the export: <see cref="IFileSpace.CopyAsync"/>,
/// <see cref="IFileSpace.CloneAsync"/>, and <see cref="IFileSpace.CloneBlockSize"/>.
/// </summary>
/// <remarks>
/// <para>A copy asks the change gate once, for the whole copy, with <see cref="ChangeKind.Write"/> on the destination, and
/// holds the grant until it ends. The grant is the engine's per-file change hold (conflicting delegations on that one
/// file stay recalled and none is granted meanwhile), not a lock: the engine's file lock is taken only inside
/// BeginAsync and when the grant is disposed, so a long copy delays no other file, and no other change to the same
/// file either (knfsd too writes a copy's destination under no lock of its own). Asking per chunk instead would let
/// another client take a delegation between two chunks and see its file change under it, or would end an
/// asynchronous copy halfway with a recall pending.</para>
/// <para>The copy runs on the calling thread, <see cref="ChunkBytes"/> at a time; the NFS layer calls it on a pool thread
/// (a synchronous COPY leaves the socket thread, an asynchronous one runs in the background).</para>
/// </remarks>
internal sealed class FileCopy
{
    /// <summary>
    /// Bytes per copy_file_range call: between two calls the copy reports progress and sees a cancellation. 4 MiB, the
    /// chunk knfsd copies per call (<c>nfsd_copy_file_range</c>): through the page cache it takes a few milliseconds,
    /// so a cancellation waits for little more than one call, while the ~2 µs a call costs is nothing against the
    /// copy. Measured here (ext4, 2 cores at load 23): OFFLOAD_CANCEL of a running 1 GiB copy answered in 30-210 ms,
    /// the same with 16 MiB chunks: the wait is the writeback throttling a busy disk puts on any write, not the chunk.
    /// </summary>
    internal const int ChunkBytes = 4 << 20;

    // lseek(2) whence values for SEEK's neighbours are the space helper's; COPY needs none. statfs(2) f_type magic
    // numbers (linux/magic.h) of the filesystems that implement FICLONERANGE.
    private const long XfsMagic = 0x58465342;
    private const long BtrfsMagic = 0x9123683E;
    private const long Ocfs2Magic = 0x7461636F;
    private const long BcachefsMagic = unchecked((long)0xCA451A4E);

    /// <summary>ioctl(2) on a file whose filesystem has no such ioctl.</summary>
    private const int ENOTTY = 25;

    private readonly LocalDirectoryTree _tree;
    private volatile uint _cloneBlockSize;

    public FileCopy(LocalDirectoryTree tree)
    {
        _tree = tree;
        _cloneBlockSize = ProbeCloneBlockSize(tree.Options.FullPath);
    }

    /// <summary>
    /// The filesystem's block size when its type implements FICLONERANGE (XFS, btrfs, OCFS2, bcachefs, by statfs's
    /// f_type), else 0. The type alone can be wrong (an XFS made without reflink): the first clone the kernel refuses
    /// with EOPNOTSUPP sets this to 0 for good. Probing by a real clone would need two files of our own on the
    /// export's filesystem, which a read-only export (or a clean one) must not get.
    /// </summary>
    public uint CloneBlockSize => _cloneBlockSize;

    internal LocalDirectoryTree Tree => _tree;

    /// <summary>The block size of a filesystem that can clone, by type; 0 otherwise, or when statfs fails.</summary>
    internal static uint ProbeCloneBlockSize(string path)
    {
        if (LibC.statfs_path(path, out StatFs fs) != 0)
            return 0;
        bool canClone = fs.Type is XfsMagic or BtrfsMagic or Ocfs2Magic || (uint)fs.Type == (uint)BcachefsMagic;
        return canClone && fs.BlockSize is > 0 and <= uint.MaxValue ? (uint)fs.BlockSize : 0;
    }

    public ValueTask<FsResult<CopyOutcome>> CopyAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, WriteStability stability, ChangeContext context, Action<long>? progress, CancellationToken cancellationToken)
    {
        return BetweenFilesAsync(caller, source, destination, ChangeKind.Write, "copy",
            check: (sourceStat, destinationStat) =>
            {
                long length = CopyLength(sourceStat, sourceOffset, count);
                if (sourceStat.Ino == destinationStat.Ino && length > 0 && Overlap(sourceOffset, destinationOffset, length))
                    return FsStatus.Invalid; // copy_file_range(2) refuses it too (EINVAL)
                if (length > 0 && (ulong)destinationOffset + (ulong)length > _tree.MaxFileSize)
                    return FsStatus.FileTooBig;
                return FsStatus.Ok;
            },
            run: (input, output, sourceStat) =>
            {
                progress?.Invoke(0); // started: checked, granted, descriptors open
                return CopyChunks(input, sourceOffset, output, destinationOffset, CopyLength(sourceStat, sourceOffset, count), stability, progress, cancellationToken);
            },
            sourceOffset, destinationOffset, count, context, cancellationToken);
    }

    /// <summary>What there is to copy: <paramref name="count"/> bytes, or fewer when the source ends first (0 = to its end).</summary>
    private static long CopyLength(in Statx sourceStat, long sourceOffset, long count)
    {
        long available = Math.Max(0, (long)sourceStat.Size - sourceOffset);
        return count == 0 ? available : Math.Min(count, available);
    }

    /// <summary>
    /// What COPY and CLONE share, in order: a writable export, offsets and count that fit in a file, both handles
    /// regular files, read allowed on the source and write on the destination, <paramref name="check"/> (the
    /// operation's own rules on ranges), the change gate's grant of <paramref name="kind"/> on the destination (held
    /// until <paramref name="run"/> returns), both files opened by the server itself, and the local lease break
    /// suspended for the destination; then <paramref name="run"/>(source fd, destination fd, source's statx).
    /// </summary>
    private async ValueTask<FsResult<T>> BetweenFilesAsync<T>(Caller caller, FileHandle source, FileHandle destination, ChangeKind kind, string what,
        Func<Statx, Statx, FsStatus> check, Func<SafeFd, SafeFd, Statx, FsResult<T>> run,
        long sourceOffset, long destinationOffset, long count, ChangeContext context, CancellationToken cancellationToken)
    {
        if (_tree.Options.ReadOnly)
            return FsStatus.ReadOnly;
        if (sourceOffset < 0 || destinationOffset < 0 || count < 0 || count > long.MaxValue - sourceOffset || count > long.MaxValue - destinationOffset)
            return FsStatus.Invalid;
        FsStatus status = _tree.ResolveRegular(source, out SafeFd sourceFd, out Statx sourceStat);
        if (status != FsStatus.Ok)
            return status;
        using (sourceFd)
        {
            status = _tree.ResolveRegular(destination, out SafeFd destinationFd, out Statx destinationStat);
            if (status != FsStatus.Ok)
                return status;
            using (destinationFd)
            {
                if (!MayRead(caller, sourceStat) || !MayWrite(caller, destinationStat))
                    return FsStatus.AccessDenied;
                status = check(sourceStat, destinationStat);
                if (status != FsStatus.Ok)
                    return status;

                using ChangeGrant grant = await _tree.Gate.BeginAsync(destinationStat.Ino, kind, context, cancellationToken).ConfigureAwait(false);
                if (!grant.CanProceed)
                    return LocalDirectoryTree.Refused(grant);
                using OwnIo input = _tree.OpenOwn(sourceFd, sourceStat.Ino, LibC.O_RDONLY);
                if (input.Fd.IsInvalid)
                    return _tree.OwnOpenFailed(input, what, sourceStat.Ino);
                using OwnIo output = _tree.OpenOwn(destinationFd, destinationStat.Ino, LibC.O_WRONLY);
                if (output.Fd.IsInvalid)
                    return _tree.OwnOpenFailed(output, what, destinationStat.Ino);
                using var suspension = _tree.SuspendFor(destinationStat.Ino, kind);
                return run(input.Fd, output.Fd, sourceStat);
            }
        }
    }

    /// <summary>copy_file_range in <see cref="ChunkBytes"/> pieces until <paramref name="length"/> bytes are copied, the source ends, or a cancellation.</summary>
    private unsafe FsResult<CopyOutcome> CopyChunks(SafeFd input, long inputOffset, SafeFd output, long outputOffset, long length,
        WriteStability stability, Action<long>? progress, CancellationToken cancellationToken)
    {
        long copied = 0;
        while (copied < length && !cancellationToken.IsCancellationRequested)
        {
            long inAt = inputOffset + copied, outAt = outputOffset + copied;
            nint n = LibC.copy_file_range(input, &inAt, output, &outAt, (nuint)Math.Min(ChunkBytes, length - copied), 0);
            if (n < 0)
            {
                int errno = LibC.LastErrno;
                if (errno == Errno.EINTR)
                    continue;
                // A failure after some bytes is a short copy (as a short WRITE, and as knfsd answers); the client's
                // next COPY from where this one stopped meets the error itself.
                if (copied > 0)
                    break;
                return _tree.Fail(nameof(LibC.copy_file_range), errno);
            }
            if (n == 0)
                break; // the source got shorter meanwhile
            copied += n;
            progress?.Invoke(copied);
        }
        if (copied == 0)
            return new CopyOutcome(0, stability);
        FsStatus stable = _tree.Stabilize(output, stability);
        return stable == FsStatus.Ok ? new CopyOutcome(copied, stability) : stable;
    }

    public async ValueTask<FsStatus> CloneAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, ChangeContext context, CancellationToken cancellationToken)
    {
        FsResult<bool> result = await BetweenFilesAsync(caller, source, destination, ChangeKind.SpaceChange, "clone",
            check: (sourceStat, destinationStat) =>
            {
                uint block = _cloneBlockSize;
                if (block == 0)
                    return FsStatus.NotSupported;
                // Alignment (RFC 7862 §15.13.3, as the kernel checks it): offsets on block boundaries; the count too,
                // unless the range runs to the source's end.
                long end = count == 0 ? (long)sourceStat.Size : sourceOffset + count;
                if (sourceOffset % block != 0 || destinationOffset % block != 0 || (end != (long)sourceStat.Size && count % block != 0))
                    return FsStatus.Invalid;
                if (sourceOffset > (long)sourceStat.Size)
                    return FsStatus.Invalid;
                if (sourceStat.Ino == destinationStat.Ino && Overlap(sourceOffset, destinationOffset, end - sourceOffset))
                    return FsStatus.Invalid;
                return FsStatus.Ok;
            },
            run: (input, output, _) => (FsResult<bool>)Clone(input, sourceOffset, count, output, destinationOffset), // only its Status counts
            sourceOffset, destinationOffset, count, context, cancellationToken).ConfigureAwait(false);
        return result.Status;
    }

    private unsafe FsStatus Clone(SafeFd input, long sourceOffset, long count, SafeFd output, long destinationOffset)
    {
        bool added = false;
        input.DangerousAddRef(ref added);
        try
        {
            var range = new FileCloneRange
            {
                SourceFd = input.DangerousGetHandle(),
                SourceOffset = (ulong)sourceOffset,
                SourceLength = (ulong)count, // 0: to the source's end
                DestinationOffset = (ulong)destinationOffset,
            };
            if (LibC.ioctl_ficlonerange(output, LibC.FICLONERANGE, &range) != 0)
            {
                int errno = LibC.LastErrno;
                if (errno is Errno.EOPNOTSUPP or ENOTTY)
                {
                    _cloneBlockSize = 0; // a filesystem of a cloning type made without it (XFS reflink=0)
                    return FsStatus.NotSupported;
                }
                return _tree.Fail("ioctl(FICLONERANGE)", errno);
            }
        }
        finally
        {
            if (added)
                input.DangerousRelease();
        }
        // A clone has no commit verifier for the client to check, so it is stable before it is answered (as knfsd on a
        // "sync" export, its default, commits after vfs_clone_file_range).
        return LibC.fsync(output) == 0 ? FsStatus.Ok : _tree.Fail(nameof(LibC.fsync));
    }

    /// <summary>READ's rule: read permission, or ownership, or execute permission (knfsd lets an executable file be read).</summary>
    private static bool MayRead(Caller caller, in Statx st) =>
        ModeBits.Allows(caller, st, ModeBits.Read) || caller.Uid == st.Uid || ModeBits.Allows(caller, st, ModeBits.Execute);

    /// <summary>WRITE's rule: write permission, or ownership.</summary>
    private static bool MayWrite(Caller caller, in Statx st) =>
        ModeBits.Allows(caller, st, ModeBits.Write) || caller.Uid == st.Uid;

    private static bool Overlap(long a, long b, long length) => a < b + length && b < a + length;
}
