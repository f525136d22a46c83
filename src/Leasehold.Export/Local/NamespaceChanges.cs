using Leasehold.Export.Native;
using static Leasehold.Export.Local.Descriptors;

namespace Leasehold.Export.Local;

/// <summary>
/// Changes to the namespace: creating files, directories, symlinks and nodes, LINK, REMOVE and RENAME, each behind the
/// change gate, each made by name relative to a verified directory (one component, never followed), and each made
/// durable (<see cref="Durability"/>) before it is answered.
/// </summary>
internal sealed class NamespaceChanges(HandleTable handles, LocalAccessGuards guards, Durability durability, ExportOptions options, IChangeGate gate, Failures failures)
{
    public async ValueTask<FsResult<(FileHandle Handle, bool Created)>> CreateFileAsync(Caller caller, FileHandle directory, FileName name, uint mode, bool exclusive, ChangeContext context, CancellationToken cancellationToken)
    {
        if (options.ReadOnly)
            return FsStatus.ReadOnly;
        FsStatus status = handles.ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat, out long checkedAt);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if ((status = Names.Check(name)) != FsStatus.Ok)
                return status;
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Execute))
                return FsStatus.AccessDenied;

            // An existing file is opened, not created, unless the create is exclusive: no change, so no gate.
            FsResult<FileHandle> existing = OpenExisting(dir, name, exclusive, checkedAt);
            if (existing.Status != FsStatus.NotFound)
                return existing.IsOk ? (existing.Value, false) : existing.Status;

            if (!ModeBits.Allows(caller, dirStat, ModeBits.Write | ModeBits.Execute))
                return FsStatus.AccessDenied;
            using ChangeGrant grant = await gate.BeginAsync(dirStat.Ino, ChangeKind.Create, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Failures.Refused(grant);
            using SafeFd created = LibC.openat(dir, name, LibC.O_RDONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW | LibC.O_NOCTTY | LibC.O_CLOEXEC, 0);
            if (created.IsInvalid)
            {
                int errno = LibC.LastErrno;
                if (errno == Errno.EEXIST && !exclusive) // lost a race with another creator: open theirs
                {
                    existing = OpenExisting(dir, name, exclusive: false, checkedAt);
                    return existing.IsOk ? (existing.Value, false) : existing.Status;
                }
                return failures.Fail(nameof(LibC.openat), errno);
            }
            FsResult<FileHandle> handle = FinishCreate(dir, name, created, caller, dirStat, mode);
            if (handle.IsOk && (status = durability.SyncCreated(dir, created, createdIsPath: false)) != FsStatus.Ok)
                return status;
            if (handle.IsOk)
            {
                // created is O_RDONLY (O_CREAT cannot make an O_PATH descriptor), which must not stay open (a local
                // process's write lease would be refused beside it): cache an O_PATH reopen of the same inode instead.
                SafeFd path = LibC.openat(LibC.AT_FDCWD, created.ProcPath, LibC.O_PATH | LibC.O_CLOEXEC, 0);
                if (path.IsInvalid)
                    path.Dispose();
                else
                    handles.RememberOpened(handle.Value, path, checkedAt);
            }
            return handle.IsOk ? (handle.Value, true) : handle.Status;
        }
    }

    public async ValueTask<FsResult<FileHandle>> CreateDirectoryAsync(Caller caller, FileHandle directory, FileName name, uint mode, ChangeContext context, CancellationToken cancellationToken)
    {
        FsStatus status = PrepareNewEntry(caller, directory, name, out SafeFd dir, out Statx dirStat, out long checkedAt);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            using ChangeGrant grant = await gate.BeginAsync(dirStat.Ino, ChangeKind.Create, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Failures.Refused(grant);
            if (LibC.mkdirat(dir, name, 0b111_000_000) != 0) // 0700: owner-only until chowned and chmodded below
                return failures.Fail(nameof(LibC.mkdirat));
            using SafeFd created = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
            if (created.IsInvalid)
                return failures.Fail(nameof(LibC.openat));
            FsResult<FileHandle> handle = FinishCreate(dir, name, created, caller, dirStat, mode);
            if (handle.IsOk && (status = durability.SyncCreated(dir, created, createdIsPath: true)) != FsStatus.Ok)
                return status;
            return handles.RememberCreated(handle, created, checkedAt);
        }
    }

    public async ValueTask<FsResult<FileHandle>> CreateSymlinkAsync(Caller caller, FileHandle directory, FileName name, ReadOnlyMemory<byte> target, ChangeContext context, CancellationToken cancellationToken)
    {
        if (options.ReadOnly)
            return FsStatus.ReadOnly;
        FsStatus status = handles.ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat, out long checkedAt);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if ((status = Names.Check(name)) != FsStatus.Ok)
                return status;
            // The target is stored, never followed here, so "/" or ".." in it are harmless; it only must be storable.
            if ((status = Names.CheckSymlinkTarget(target.Span)) != FsStatus.Ok)
                return status;
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Write | ModeBits.Execute))
                return FsStatus.AccessDenied;
            using ChangeGrant grant = await gate.BeginAsync(dirStat.Ino, ChangeKind.Create, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Failures.Refused(grant);
            if (LibC.symlinkat(target.Span, dir, name) != 0)
                return failures.Fail(nameof(LibC.symlinkat));
            using SafeFd created = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
            if (created.IsInvalid)
                return failures.Fail(nameof(LibC.openat));
            FsResult<FileHandle> handle = FinishCreate(dir, name, created, caller, dirStat, mode: null);
            if (handle.IsOk && (status = durability.SyncEntries(dir, "create")) != FsStatus.Ok)
                return status;
            return handles.RememberCreated(handle, created, checkedAt);
        }
    }

    public async ValueTask<FsResult<FileHandle>> CreateNodeAsync(Caller caller, FileHandle directory, FileName name, FileType type, uint mode, uint major, uint minor, ChangeContext context, CancellationToken cancellationToken)
    {
        if (options.ReadOnly)
            return FsStatus.ReadOnly;
        uint format = type switch
        {
            FileType.Fifo => 0x1000,            // S_IFIFO
            FileType.CharacterDevice => 0x2000, // S_IFCHR
            FileType.BlockDevice => 0x6000,     // S_IFBLK
            FileType.Socket => 0xC000,          // S_IFSOCK
            _ => 0,
        };
        if (format == 0)
            return FsStatus.Invalid;
        FsStatus status = handles.ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat, out long checkedAt);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if ((status = Names.Check(name)) != FsStatus.Ok)
                return status;
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Write | ModeBits.Execute))
                return FsStatus.AccessDenied;
            if (type is FileType.BlockDevice or FileType.CharacterDevice && !caller.IsRoot)
                return FsStatus.NotPermitted; // mknod(2): devices need CAP_MKNOD; judged by the caller, not by us
            using ChangeGrant grant = await gate.BeginAsync(dirStat.Ino, ChangeKind.Create, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Failures.Refused(grant);
            if (LibC.mknodat(dir, name, format | (mode & 0xFFF), LibC.MakeDev(major, minor)) != 0)
                return failures.Fail(nameof(LibC.mknodat));
            using SafeFd created = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
            if (created.IsInvalid)
                return failures.Fail(nameof(LibC.openat));
            FsResult<FileHandle> handle = FinishCreate(dir, name, created, caller, dirStat, mode: mode & 0xFFF);
            if (handle.IsOk && (status = durability.SyncEntries(dir, "create")) != FsStatus.Ok)
                return status;
            return handles.RememberCreated(handle, created, checkedAt);
        }
    }

    public async ValueTask<FsResult<FileHandle>> LinkAsync(Caller caller, FileHandle file, FileHandle directory, FileName name, ChangeContext context, CancellationToken cancellationToken)
    {
        if (options.ReadOnly)
            return FsStatus.ReadOnly;
        // Only a file with a name in the export gains another: one reached through its pin alone (unlinked, or its names
        // left the export) is NotFound, as link(2) refuses a file with no links (ENOENT).
        FsStatus status = handles.ResolveLinked(file, out SafeFd source, out Statx sourceStat, out _);
        if (status == FsStatus.Stale && handles.BorrowPinned(file) is { } pinned)
        {
            pinned.Dispose();
            return FsStatus.NotFound;
        }
        if (status != FsStatus.Ok)
            return status;
        using (source)
        {
            if (sourceStat.IsDirectory)
                return FsStatus.IsDirectory; // no hard links to directories (link(2): EPERM)
            status = handles.ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat);
            if (status != FsStatus.Ok)
                return status;
            using (dir)
            {
                if ((status = Names.Check(name)) != FsStatus.Ok)
                    return status;
                if (!ModeBits.Allows(caller, dirStat, ModeBits.Write | ModeBits.Execute))
                    return FsStatus.AccessDenied;
                using ChangeGrant grant = await gate.BeginAsync(sourceStat.Ino, ChangeKind.Link, context, cancellationToken).ConfigureAwait(false);
                if (!grant.CanProceed)
                    return Failures.Refused(grant);
                using var suspension = guards.SuspendFor(sourceStat.Ino, ChangeKind.Link);
                // AT_EMPTY_PATH links the fd's inode itself (needs CAP_DAC_READ_SEARCH, which we have).
                if (LibC.linkat(source, dir, name, LibC.AT_EMPTY_PATH) != 0)
                    return failures.Fail(nameof(LibC.linkat));
                // One journal transaction holds the new entry and the link count, so the directory's sync covers both.
                if ((status = durability.SyncEntries(dir, "link")) != FsStatus.Ok)
                    return status;
                return handles.MakeHandle(source);
            }
        }
    }

    public async ValueTask<FsStatus> RemoveAsync(Caller caller, FileHandle directory, FileName name, ChangeContext context, CancellationToken cancellationToken)
    {
        FsStatus status = PrepareNewEntry(caller, directory, name, out SafeFd dir, out Statx dirStat, out _);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if (StatAt(dir, name, out Statx victim) != 0)
                return failures.Fail(nameof(LibC.statx));
            if (!ModeBits.MayDeleteFromSticky(caller, dirStat, victim))
                return FsStatus.NotPermitted;
            using ChangeGrant grant = await gate.BeginAsync(victim.Ino, ChangeKind.Unlink, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Failures.Refused(grant);
            using var suspension = guards.SuspendFor(victim.Ino, ChangeKind.Unlink);
            if (LibC.unlinkat(dir, name, victim.IsDirectory ? LibC.AT_REMOVEDIR : 0) != 0)
                return failures.Fail(nameof(LibC.unlinkat));
            handles.ForgetUnlinked(victim.Ino);
            return durability.SyncEntries(dir, "remove");
        }
    }

    public async ValueTask<FsStatus> RenameAsync(Caller caller, FileHandle fromDirectory, FileName fromName, FileHandle toDirectory, FileName toName, ChangeContext context, CancellationToken cancellationToken)
    {
        if (options.ReadOnly)
            return FsStatus.ReadOnly;
        FsStatus status = handles.ResolveDirectory(fromDirectory, forLookup: false, out SafeFd from, out Statx fromStat);
        if (status != FsStatus.Ok)
            return status;
        using (from)
        {
            status = handles.ResolveDirectory(toDirectory, forLookup: false, out SafeFd to, out Statx toStat);
            if (status != FsStatus.Ok)
                return status;
            using (to)
            {
                if ((status = Names.Check(fromName)) != FsStatus.Ok || (status = Names.Check(toName)) != FsStatus.Ok)
                    return status;
                if (!ModeBits.Allows(caller, fromStat, ModeBits.Write | ModeBits.Execute)
                    || !ModeBits.Allows(caller, toStat, ModeBits.Write | ModeBits.Execute))
                    return FsStatus.AccessDenied;
                if (StatAt(from, fromName, out Statx source) != 0)
                    return failures.Fail(nameof(LibC.statx));
                if (!ModeBits.MayDeleteFromSticky(caller, fromStat, source))
                    return FsStatus.NotPermitted;
                // A directory moving to another parent has its ".." rewritten: that needs write on it (may_rename).
                if (source.IsDirectory && fromStat.Ino != toStat.Ino && !ModeBits.Allows(caller, source, ModeBits.Write))
                    return FsStatus.AccessDenied;

                bool replaces = false;
                Statx target = default;
                if (StatAt(to, toName, out target) == 0)
                {
                    replaces = target.Ino != source.Ino; // two links to one file: rename(2) does nothing
                    if (!ModeBits.MayDeleteFromSticky(caller, toStat, target))
                        return FsStatus.NotPermitted;
                }
                else if (LibC.LastErrno != Errno.ENOENT)
                {
                    return failures.Fail(nameof(LibC.statx));
                }

                using ChangeGrant grant = await gate.BeginAsync(source.Ino, ChangeKind.Rename, context, cancellationToken).ConfigureAwait(false);
                if (!grant.CanProceed)
                    return Failures.Refused(grant);
                using ChangeGrant replaced = replaces
                    ? await gate.BeginAsync(target.Ino, ChangeKind.Unlink, context, cancellationToken).ConfigureAwait(false)
                    : ChangeGrant.Proceed;
                if (!replaced.CanProceed)
                    return Failures.Refused(replaced);
                using var moving = guards.SuspendFor(source.Ino, ChangeKind.Rename);
                using var replacing = replaces ? guards.SuspendFor(target.Ino, ChangeKind.Unlink) : default;
                if (LibC.renameat(from, fromName, to, toName) != 0)
                    return failures.Fail(nameof(LibC.renameat));
                if (replaces)
                    handles.ForgetUnlinked(target.Ino);
                // Both directories, as knfsd commits both: ext4 and XFS journal the rename as one transaction, so the
                // second sync finds it committed and costs a cache flush, but POSIX promises nothing about the other.
                if ((status = durability.SyncEntries(to, "rename")) != FsStatus.Ok)
                    return status;
                return fromStat.Ino == toStat.Ino ? FsStatus.Ok : durability.SyncEntries(from, "rename");
            }
        }
    }

    /// <summary>An existing regular file's handle, for a non-exclusive create; its descriptor is cached (<see cref="RememberOpened"/>).</summary>
    private FsResult<FileHandle> OpenExisting(SafeFd dir, FileName name, bool exclusive, long checkedAt)
    {
        if (StatAt(dir, name, out Statx existing) != 0)
            return failures.Fail(nameof(LibC.statx));
        if (exclusive)
            return FsStatus.Exists;
        if (!existing.IsRegular)
            return existing.IsDirectory ? FsStatus.IsDirectory : existing.IsSymlink ? FsStatus.Symlink : FsStatus.WrongType;
        using SafeFd fd = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
        if (fd.IsInvalid)
            return failures.Fail(nameof(LibC.openat));
        return handles.RememberCreated(handles.MakeHandle(fd), fd, checkedAt);
    }

    /// <summary>
    /// Gives a new file to the caller: owner the caller, group the caller's (or the directory's, if it is setgid: BSD
    /// group semantics), mode exactly as asked (this process's umask must not apply; the client applied its own).
    /// chown comes before chmod because chown clears setuid/setgid. If that fails the file is removed again.
    /// </summary>
    private FsResult<FileHandle> FinishCreate(SafeFd dir, FileName name, SafeFd created, Caller caller, in Statx dirStat, uint? mode)
    {
        bool inheritGroup = (dirStat.Mode & LibC.S_ISGID) != 0;
        uint gid = inheritGroup ? dirStat.Gid : caller.Gid;
        FsResult<FileHandle> result = default;
        if (LibC.fchownat(created, "", caller.Uid, gid, LibC.AT_EMPTY_PATH) != 0)
        {
            result = failures.Fail(nameof(LibC.fchownat));
        }
        else if (mode is uint asked)
        {
            uint effective = asked & 0xFFF;
            if (!caller.IsRoot && !caller.InGroup(gid))
                effective &= ~LibC.S_ISGID; // as the kernel's inode_init_owner / setattr_prepare
            if (inheritGroup && Stat(created, out Statx st) == 0 && st.IsDirectory)
                effective |= LibC.S_ISGID; // subdirectories of a setgid directory stay setgid
            if (LibC.fchmodat(LibC.AT_FDCWD, created.ProcPath, effective, 0) != 0)
                result = failures.Fail(nameof(LibC.fchmodat));
        }
        if (result.Status == FsStatus.Ok)
            result = handles.MakeHandle(created);
        if (!result.IsOk)
            _ = LibC.unlinkat(dir, name, Stat(created, out Statx made) == 0 && made.IsDirectory ? LibC.AT_REMOVEDIR : 0);
        return result;
    }

    /// <summary>
    /// What every new directory entry needs first: a writable export, the directory resolved, a valid name, and write
    /// and search permission on the directory. On success the caller owns (and disposes) <paramref name="dir"/>;
    /// <paramref name="checkedAt"/> is when the directory was last found inside the export.
    /// </summary>
    private FsStatus PrepareNewEntry(Caller caller, FileHandle directory, FileName name, out SafeFd dir, out Statx dirStat, out long checkedAt)
    {
        dir = null!;
        dirStat = default;
        checkedAt = HandleTable.NeverChecked;
        if (options.ReadOnly)
            return FsStatus.ReadOnly;
        FsStatus status = handles.ResolveDirectory(directory, forLookup: false, out dir, out dirStat, out checkedAt);
        if (status != FsStatus.Ok)
            return status;
        if ((status = Names.Check(name)) == FsStatus.Ok && !ModeBits.Allows(caller, dirStat, ModeBits.Write | ModeBits.Execute))
            status = FsStatus.AccessDenied;
        if (status != FsStatus.Ok)
        {
            dir.Dispose();
            dir = null!;
        }
        return status;
    }
}
