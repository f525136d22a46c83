using Leasehold.Export.LocalAccess;
using Leasehold.Export.Native;
using static Leasehold.Export.Local.Descriptors;

namespace Leasehold.Export.Local;

/// <summary>
/// A file's attributes and who may do what with it: GETATTR, SETATTR (checked as chown(2), chmod(2), utimensat(2) and
/// truncate(2) would, then applied behind the change gate), ACCESS (from the mode bits, <see cref="ModeBits"/>), and the
/// filesystem's statistics.
/// </summary>
internal sealed class AttributeAccess(HandleTable handles, LocalAccessGuards guards, ExportOptions options, IChangeGate gate, Failures failures)
{
    public FsResult<FileAttributes> GetAttributes(FileHandle handle)
    {
        // Fast path: a recently verified handle is one statx on its cached descriptor (no dup, no close).
        if (handles.TryGetFresh(handle, out var entry) && HandleTable.TryStatCached(entry, out Statx cached) && cached.NumLinks > 0)
            return Attributes.From(cached);
        FsStatus status = handles.Resolve(handle, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        fd.Dispose();
        return Attributes.From(st);
    }

    public FsResult<FsStats> GetFileSystemStats(FileHandle handle)
    {
        FsStatus status = handles.Resolve(handle, out SafeFd fd, out _);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (LibC.fstatfs(fd, out StatFs fs) != 0)
                return failures.Fail(nameof(LibC.fstatfs));
            return Attributes.From(fs);
        }
    }

    public FsResult<AccessMask> CheckAccess(Caller caller, FileHandle handle, AccessMask asked)
    {
        // Fast path, as in GetAttributes: one statx on a recently verified handle's cached descriptor.
        if (handles.TryGetFresh(handle, out var entry) && HandleTable.TryStatCached(entry, out Statx cached) && cached.NumLinks > 0)
            return ModeBits.Granted(caller, cached, asked, options.ReadOnly);
        FsStatus status = handles.Resolve(handle, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        fd.Dispose();
        return ModeBits.Granted(caller, st, asked, options.ReadOnly);
    }

    public async ValueTask<FsResult<FileAttributes>> SetAttributesAsync(Caller caller, FileHandle handle, SetAttributes changes, ChangeContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        FsStatus status = handles.Resolve(handle, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (changes.IsEmpty)
                return Attributes.From(st);
            if (options.ReadOnly)
                return FsStatus.ReadOnly;
            if ((status = CheckSetAttributes(caller, st, changes)) != FsStatus.Ok)
                return status;

            ChangeKind kind = changes.ChangesSize ? ChangeKind.Truncate : ChangeKind.SetAttributes;
            using ChangeGrant grant = await gate.BeginAsync(st.Ino, kind, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Failures.Refused(grant);
            using var suspension = guards.SuspendFor(st.Ino, kind);
            if ((status = ApplySetAttributes(fd, caller, st, changes)) != FsStatus.Ok)
                return status;
            if (Stat(fd, out st) != 0)
                return failures.Fail(nameof(LibC.statx));
            return Attributes.From(st);
        }
    }

    private static FsStatus CheckSetAttributes(Caller caller, in Statx st, SetAttributes changes)
    {
        if (changes.Size is not null)
        {
            if (st.IsDirectory)
                return FsStatus.IsDirectory;
            if (!st.IsRegular)
                return FsStatus.Invalid;
            if (!ModeBits.Allows(caller, st, ModeBits.Write) && caller.Uid != st.Uid) // knfsd: MAY_TRUNC | MAY_OWNER_OVERRIDE
                return FsStatus.AccessDenied;
            if (changes.Size > long.MaxValue)
                return FsStatus.FileTooBig;
        }
        // chown(2): only root gives a file away; the owner may change the group to one of its own.
        if (changes.Uid is uint uid && uid != st.Uid && !caller.IsRoot)
            return FsStatus.NotPermitted;
        if (changes.Gid is uint gid && gid != st.Gid && !caller.IsRoot && !(caller.Uid == st.Uid && caller.InGroup(gid)))
            return FsStatus.NotPermitted;
        if (changes.Mode is not null && !ModeBits.IsOwnerOrRoot(caller, st))
            return FsStatus.NotPermitted;
        // utimensat(2): given times need the owner (or root); "now" also any writer.
        if ((changes.AccessTime is not null && !changes.AccessTimeNow) || (changes.ModifyTime is not null && !changes.ModifyTimeNow))
        {
            if (!ModeBits.IsOwnerOrRoot(caller, st))
                return FsStatus.NotPermitted;
        }
        else if ((changes.AccessTimeNow || changes.ModifyTimeNow) && !ModeBits.IsOwnerOrRoot(caller, st) && !ModeBits.Allows(caller, st, ModeBits.Write))
        {
            return FsStatus.AccessDenied;
        }
        return FsStatus.Ok;
    }

    private unsafe FsStatus ApplySetAttributes(SafeFd fd, Caller caller, in Statx st, SetAttributes changes)
    {
        if (changes.Size is ulong size)
        {
            using OwnIo output = guards.OpenOwn(fd, st.Ino, LibC.O_WRONLY);
            if (output.Fd.IsInvalid)
                return guards.OwnOpenFailed(output, "truncate", st.Ino);
            if (LibC.ftruncate(output.Fd, (long)size) != 0)
                return failures.Fail(nameof(LibC.ftruncate));
        }
        if (changes.Uid is not null || changes.Gid is not null)
        {
            if (LibC.fchownat(fd, "", changes.Uid ?? uint.MaxValue, changes.Gid ?? uint.MaxValue, LibC.AT_EMPTY_PATH) != 0)
                return failures.Fail(nameof(LibC.fchownat));
        }
        // Symlinks have no mode of their own on Linux; knfsd drops a mode change on one, and so do we.
        if (changes.Mode is uint mode && !st.IsSymlink)
        {
            uint effective = mode & 0xFFF;
            if (!caller.IsRoot && !caller.InGroup(changes.Gid ?? st.Gid))
                effective &= ~LibC.S_ISGID; // setattr_prepare: setgid only for a member of the file's group
            if (LibC.fchmodat(LibC.AT_FDCWD, fd.ProcPath, effective, 0) != 0)
                return failures.Fail(nameof(LibC.fchmodat));
        }
        if (changes.AccessTime is not null || changes.AccessTimeNow || changes.ModifyTime is not null || changes.ModifyTimeNow)
        {
            Timespec* times = stackalloc Timespec[2];
            times[0] = TimeSpec(changes.AccessTime, changes.AccessTimeNow);
            times[1] = TimeSpec(changes.ModifyTime, changes.ModifyTimeNow);
            if (LibC.utimensat(fd, "", times, LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW) != 0)
                return failures.Fail(nameof(LibC.utimensat));
        }
        return FsStatus.Ok;

        static Timespec TimeSpec(FsTime? time, bool now) => now
            ? new Timespec { Nanoseconds = LibC.UTIME_NOW }
            : time is FsTime t ? new Timespec { Seconds = t.Seconds, Nanoseconds = t.Nanoseconds } : new Timespec { Nanoseconds = LibC.UTIME_OMIT };
    }
}
