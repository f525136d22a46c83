namespace Leasehold.Export;

/// <summary>
/// Outcome of a tree operation. Expected filesystem errors are values, never exceptions above this layer; the NFS
/// layer maps each to its NFS4ERR_* (names here follow the errno they usually come from).
/// </summary>
public enum FsStatus
{
    Ok,
    NotFound,          // ENOENT
    Exists,            // EEXIST
    NotDirectory,      // ENOTDIR
    IsDirectory,       // EISDIR
    NotEmpty,          // ENOTEMPTY
    AccessDenied,      // EACCES: permission bits say no
    NotPermitted,      // EPERM: only the owner (or root) may
    Stale,             // the handle named a file that is gone, or has left the export
    BadHandle,         // the handle was not made by this export (forged, corrupt, another export's key)
    NameTooLong,       // ENAMETOOLONG
    InvalidName,       // ".", "..", or a name with '/' or NUL (empty too, for the tree; the NFS layer answers INVAL first)
    Invalid,           // EINVAL
    NoSpace,           // ENOSPC, EDQUOT
    ReadOnly,          // EROFS, or a read-only export
    CrossDevice,       // EXDEV
    FileTooBig,        // EFBIG
    WrongType,         // an operation on the wrong kind of file (READLINK on a regular file, ...)
    Symlink,           // a symlink where a directory was needed (LOOKUP through one)
    TooManyLinks,      // EMLINK
    Io,                // EIO and anything unexpected
    Delay,             // the change gate is recalling grants on the file: try again shortly
    LayoutBusy,        // the change gate refused: someone holds an exclusive layout on the file
    NotSupported,      // EOPNOTSUPP: the filesystem (or this export) cannot do it, e.g. a clone on ext4
    NoData,            // ENXIO: SEEK found no data (or hole) at or after the offset, or the offset is past the end
    NoXattr,           // ENODATA: no extended attribute of that name
    XattrTooBig,       // E2BIG, ERANGE: the value or the name list is over the limit
}

/// <summary>A result or a status: <see cref="Value"/> is meaningful only when <see cref="Status"/> is Ok.</summary>
public readonly record struct FsResult<T>(FsStatus Status, T Value)
{
    public bool IsOk => Status == FsStatus.Ok;

    public static implicit operator FsResult<T>(FsStatus status) => new(status, default!);

    public static implicit operator FsResult<T>(T value) => new(FsStatus.Ok, value);
}

public enum FileType : byte
{
    Regular = 1,
    Directory = 2,
    BlockDevice = 3,
    CharacterDevice = 4,
    Symlink = 5,
    Socket = 6,
    Fifo = 7,
}

/// <summary>Seconds and nanoseconds since the Unix epoch, as on the wire (RFC 8881 nfstime4).</summary>
public readonly record struct FsTime(long Seconds, uint Nanoseconds)
{
    public static FsTime FromDateTimeOffset(DateTimeOffset t)
    {
        long ticks = t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest);
        if (rest < 0)
        {
            seconds--;
            rest += TimeSpan.TicksPerSecond;
        }
        return new FsTime(seconds, (uint)(rest * 100));
    }
}

/// <summary>What a stat of a file says, plus <see cref="Change"/>, which moves on every modification of the file.</summary>
public readonly record struct FileAttributes(
    FileType Type,
    uint Mode,            // permission bits and setuid/setgid/sticky (07777)
    uint NumLinks,
    uint Uid,
    uint Gid,
    ulong Size,
    ulong SpaceUsed,
    ulong FileId,         // the inode number
    uint RdevMajor,
    uint RdevMinor,
    FsTime AccessTime,
    FsTime ModifyTime,
    FsTime ChangeTime,
    FsTime? BirthTime,
    ulong Change);        // the ctime in nanoseconds: the kernel moves it on every data or metadata change

/// <summary>The caller's identity after the export's squashing rules (root squash, anonymous mapping).</summary>
public sealed record Caller(uint Uid, uint Gid, uint[] Groups)
{
    public static Caller Root { get; } = new(0, 0, []);

    public bool IsRoot => Uid == 0;

    public bool InGroup(uint gid) => Gid == gid || Array.IndexOf(Groups, gid) >= 0;
}

/// <summary>Attributes to change; null means "leave alone". Times may be set to the server's clock.</summary>
public sealed record SetAttributes(
    uint? Mode = null,
    uint? Uid = null,
    uint? Gid = null,
    ulong? Size = null,
    FsTime? AccessTime = null,
    bool AccessTimeNow = false,
    FsTime? ModifyTime = null,
    bool ModifyTimeNow = false)
{
    public bool ChangesSize => Size is not null;

    public bool IsEmpty => Mode is null && Uid is null && Gid is null && Size is null && AccessTime is null && !AccessTimeNow && ModifyTime is null && !ModifyTimeNow;
}

/// <summary>Access bits, as NFSv4 ACCESS asks them (RFC 8881 §18.1).</summary>
[Flags]
public enum AccessMask : uint
{
    Read = 0x01,
    Lookup = 0x02,
    Modify = 0x04,
    Extend = 0x08,
    Delete = 0x10,
    Execute = 0x20,
}

/// <summary>How much durability a write asks for (RFC 8881 stable_how4).</summary>
public enum WriteStability
{
    Unstable = 0,
    DataSync = 1,
    FileSync = 2,
}

/// <summary>
/// One directory entry; <see cref="Cookie"/> resumes the listing right after it, across calls. <see cref="Name"/> is the
/// stored bytes, so it is always a name <see cref="IExportedTree.Lookup"/> finds.
/// </summary>
public sealed record DirectoryEntry(FileName Name, ulong Cookie, FileHandle Handle, FileAttributes Attributes);

/// <summary>Capacity figures of the filesystem behind the export.</summary>
public sealed record FsStats(ulong TotalBytes, ulong FreeBytes, ulong AvailableBytes, ulong TotalFiles, ulong FreeFiles, ulong AvailableFiles);
