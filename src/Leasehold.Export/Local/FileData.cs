using Leasehold.Export.LocalAccess;
using Leasehold.Export.Native;
using static Leasehold.Export.Local.Descriptors;

namespace Leasehold.Export.Local;

/// <summary>
/// A regular file's data: READ (with the O_RDONLY descriptor the cache keeps per handle, <see cref="ResolvedHandle.Reader"/>),
/// WRITE (behind the change gate) and COMMIT, each on the export's own descriptor (<see cref="LocalAccessGuards.OpenOwn"/>).
/// </summary>
internal sealed class FileData(HandleTable handles, LocalAccessGuards guards, ExportOptions options, IChangeGate gate, Failures failures, ulong maxFileSize)
{
    public FsResult<(int Count, bool EndOfFile)> Read(Caller caller, FileHandle file, long offset, Span<byte> destination)
    {
        if (offset < 0)
            return FsStatus.Invalid;
        // pread(2) refuses (EINVAL) a range whose end does not fit in off_t; no file reaches there, so stop short of it.
        if (destination.Length > long.MaxValue - offset)
            destination = destination[..(int)(long.MaxValue - offset)];
        if (TryReadCached(caller, file, offset, destination, out var cached))
            return cached;
        FsStatus status = handles.ResolveRegular(file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (!MayRead(caller, st))
                return FsStatus.AccessDenied;
            using OwnIo data = guards.OpenOwn(fd, st.Ino, LibC.O_RDONLY);
            if (data.Fd.IsInvalid)
                return guards.OwnOpenFailed(data, "read", st.Ino);
            return ReadAll(data.Fd, offset, destination);
        }
    }

    /// <summary>
    /// Read bits, the owner (knfsd's owner override: a file created 0444 is still read by its creator), or execute bits
    /// (a client reads a program to run it: knfsd's MAY_READ_IF_EXEC).
    /// </summary>
    private static bool MayRead(Caller caller, in Statx st) =>
        ModeBits.Allows(caller, st, ModeBits.Read) || caller.Uid == st.Uid || ModeBits.Allows(caller, st, ModeBits.Execute);

    /// <summary>
    /// READ's fast path: a recently verified handle with a read descriptor already open costs one statx (for the
    /// permission check and the link count) and the pread.
    /// </summary>
    private bool TryReadCached(Caller caller, FileHandle file, long offset, Span<byte> destination, out FsResult<(int Count, bool EndOfFile)> result)
    {
        result = default;
        try
        {
            return TryReadCachedCore(caller, file, offset, destination, out result);
        }
        catch (ObjectDisposedException)
        {
            // The cache dropped the entry's descriptors under us (the last CLOSE, a re-check, an eviction): nothing
            // was read; the slow path resolves the handle afresh.
            result = default;
            return false;
        }
    }

    private bool TryReadCachedCore(Caller caller, FileHandle file, long offset, Span<byte> destination, out FsResult<(int Count, bool EndOfFile)> result)
    {
        result = default;
        if (!handles.TryGetFresh(file, out var entry))
            return false;
        if (guards.Leases is { } leases)
        {
            // A guarded file is read through its guard (a new O_RDONLY descriptor breaks a write lease); an unguarded
            // one gets its cached reader under the table lock, so no guard can appear between the check and the open.
            if (Stat(entry.Fd, out Statx pathStat) != 0)
                return false;
            using GuardIo guardIo = leases.BorrowOr(pathStat.Ino, () => EnsureReader(entry));
            if (guardIo.Fd is { } guardFd)
                return ReadThrough(guardFd, caller, offset, destination, out result);
        }
        var reader = Volatile.Read(ref entry.Reader) ?? EnsureReader(entry);
        if (reader is null)
            return false;
        bool added = false;
        try
        {
            reader.DangerousAddRef(ref added); // a write guard may close the cached reader at any time
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        try
        {
            return ReadThrough(reader, caller, offset, destination, out result);
        }
        finally
        {
            reader.DangerousRelease();
        }
    }

    private bool ReadThrough(SafeFd data, Caller caller, long offset, Span<byte> destination, out FsResult<(int Count, bool EndOfFile)> result)
    {
        result = default;
        if (Stat(data, out Statx st) != 0 || st.NumLinks == 0 || !st.IsRegular)
            return false; // let the slow path give the precise answer
        if (!MayRead(caller, st))
        {
            result = FsStatus.AccessDenied;
            return true;
        }
        result = ReadAll(data, offset, destination);
        return true;
    }

    /// <summary>The handle's cached O_RDONLY descriptor, opened now if there is none yet; null if it cannot be opened.</summary>
    private static SafeFd? EnsureReader(ResolvedHandle entry)
    {
        if (Volatile.Read(ref entry.Reader) is { } cached)
            return cached;
        // Through a borrow: the reopen names the descriptor by number (/proc/self/fd/N), which must stay this file's
        // even if the entry is dropped (and its descriptor disposed) meanwhile.
        SafeFd keep;
        using (SafeFd? path = SafeFd.TryBorrow(entry.Fd))
        {
            if (path is null)
                return null;
            keep = Reopen(path, LibC.O_RDONLY);
        }
        if (keep.IsInvalid)
        {
            keep.Dispose();
            return null;
        }
        var reader = Interlocked.CompareExchange(ref entry.Reader, keep, null) ?? keep;
        if (reader != keep)
            keep.Dispose();
        return reader;
    }

    private FsResult<(int Count, bool EndOfFile)> ReadAll(SafeFd data, long offset, Span<byte> destination)
    {
        int total = ReadFully(data, offset, destination);
        if (total < 0)
            return failures.Fail(nameof(LibC.pread));
        if (total < destination.Length)
            return (total, true);
        if (Stat(data, out Statx st) != 0)
            return failures.Fail(nameof(LibC.statx));
        return (total, (ulong)offset + (ulong)total >= st.Size);
    }

    public async ValueTask<FsResult<(int Count, WriteStability Committed)>> WriteAsync(Caller caller, FileHandle file, long offset, ReadOnlyMemory<byte> data, WriteStability stability, ChangeContext context, CancellationToken cancellationToken)
    {
        if (options.ReadOnly)
            return FsStatus.ReadOnly;
        if (offset < 0)
            return FsStatus.Invalid;
        if (!data.IsEmpty && (ulong)offset + (ulong)data.Length > maxFileSize)
            return FsStatus.FileTooBig; // all or nothing: the kernel would write the part below the limit, then refuse
        FsStatus status = handles.ResolveRegular(file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (!ModeBits.Allows(caller, st, ModeBits.Write) && caller.Uid != st.Uid) // owner override, as for Read
                return FsStatus.AccessDenied;
            using ChangeGrant grant = await gate.BeginAsync(st.Ino, ChangeKind.Write, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Failures.Refused(grant);
            // Under a write guard through its own descriptor; under a read guard (the holder's own write beside its read
            // delegation) inside a suspension; never by a descriptor that breaks our own lease.
            using OwnIo output = guards.OpenOwn(fd, st.Ino, LibC.O_WRONLY);
            if (output.Fd.IsInvalid)
                return guards.OwnOpenFailed(output, "write", st.Ino);
            return WriteAll(output.Fd, offset, data.Span, stability);
        }
    }

    private unsafe FsResult<(int Count, WriteStability Committed)> WriteAll(SafeFd output, long offset, ReadOnlySpan<byte> data, WriteStability stability)
    {
        if (offset > long.MaxValue - data.Length)
            return FsStatus.FileTooBig;
        int total = 0;
        fixed (byte* start = data)
        {
            while (total < data.Length)
            {
                nint written = LibC.pwrite(output, start + total, (nuint)(data.Length - total), offset + total);
                if (written < 0)
                {
                    if (LibC.LastErrno == Errno.EINTR)
                        continue;
                    return failures.Fail(nameof(LibC.pwrite));
                }
                total += (int)written;
            }
        }
        FsStatus stable = failures.Stabilize(output, stability);
        return stable == FsStatus.Ok ? (total, stability) : stable;
    }

    public FsResult<bool> Commit(FileHandle file)
    {
        FsStatus status = handles.ResolveRegular(file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            using OwnIo data = guards.OpenOwn(fd, st.Ino, LibC.O_RDONLY);
            if (data.Fd.IsInvalid)
                return guards.OwnOpenFailed(data, "commit", st.Ino);
            if (LibC.fsync(data.Fd) != 0)
                return failures.Fail(nameof(LibC.fsync));
            return true;
        }
    }
}
