using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Leasehold.Export.Local;
using Leasehold.Export.LocalAccess;
using Leasehold.Export.Native;
using static Leasehold.Export.Local.Descriptors;
using Microsoft.Extensions.Logging;

namespace Leasehold.Export;

// LocalDirectoryTree, changing: WRITE, creating, linking, removing, renaming and setting attributes, each behind the change gate.
public sealed partial class LocalDirectoryTree
{
    public async ValueTask<FsResult<FileAttributes>> SetAttributesAsync(Caller caller, FileHandle handle, SetAttributes changes, ChangeContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        FsStatus status = Resolve(handle, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (changes.IsEmpty)
                return Attributes.From(st);
            if (_options.ReadOnly)
                return FsStatus.ReadOnly;
            if ((status = CheckSetAttributes(caller, st, changes)) != FsStatus.Ok)
                return status;

            ChangeKind kind = changes.ChangesSize ? ChangeKind.Truncate : ChangeKind.SetAttributes;
            using ChangeGrant grant = await _gate.BeginAsync(st.Ino, kind, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Refused(grant);
            using var suspension = SuspendFor(st.Ino, kind);
            if ((status = ApplySetAttributes(fd, caller, st, changes)) != FsStatus.Ok)
                return status;
            if (Stat(fd, out st) != 0)
                return Fail(nameof(LibC.statx));
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
            using OwnIo output = OpenOwn(fd, st.Ino, LibC.O_WRONLY);
            if (output.Fd.IsInvalid)
                return OwnOpenFailed(output, "truncate", st.Ino);
            if (LibC.ftruncate(output.Fd, (long)size) != 0)
                return Fail(nameof(LibC.ftruncate));
        }
        if (changes.Uid is not null || changes.Gid is not null)
        {
            if (LibC.fchownat(fd, "", changes.Uid ?? uint.MaxValue, changes.Gid ?? uint.MaxValue, LibC.AT_EMPTY_PATH) != 0)
                return Fail(nameof(LibC.fchownat));
        }
        // Symlinks have no mode of their own on Linux; knfsd drops a mode change on one, and so do we.
        if (changes.Mode is uint mode && !st.IsSymlink)
        {
            uint effective = mode & 0xFFF;
            if (!caller.IsRoot && !caller.InGroup(changes.Gid ?? st.Gid))
                effective &= ~LibC.S_ISGID; // setattr_prepare: setgid only for a member of the file's group
            if (LibC.fchmodat(LibC.AT_FDCWD, fd.ProcPath, effective, 0) != 0)
                return Fail(nameof(LibC.fchmodat));
        }
        if (changes.AccessTime is not null || changes.AccessTimeNow || changes.ModifyTime is not null || changes.ModifyTimeNow)
        {
            Timespec* times = stackalloc Timespec[2];
            times[0] = TimeSpec(changes.AccessTime, changes.AccessTimeNow);
            times[1] = TimeSpec(changes.ModifyTime, changes.ModifyTimeNow);
            if (LibC.utimensat(fd, "", times, LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW) != 0)
                return Fail(nameof(LibC.utimensat));
        }
        return FsStatus.Ok;

        static Timespec TimeSpec(FsTime? time, bool now) => now
            ? new Timespec { Nanoseconds = LibC.UTIME_NOW }
            : time is FsTime t ? new Timespec { Seconds = t.Seconds, Nanoseconds = t.Nanoseconds } : new Timespec { Nanoseconds = LibC.UTIME_OMIT };
    }
}
