namespace Leasehold.Export;

/// <summary>
/// The exported directory tree, as the NFS layer sees it: handles in, statuses and values out. Every change asks the
/// <see cref="IChangeGate"/> first, so grants on the file (delegations, layouts) are recalled before it happens.
/// Implementations never let a handle or a name reach outside the export.
/// </summary>
/// <remarks>Methods are synchronous: they are local system calls, usually served from the page cache, and the NFS
/// layer calls them from thread-pool threads. Only the gate is awaited.</remarks>
public interface IExportedTree
{
    FileHandle RootHandle { get; }

    /// <summary>Whether the export refuses every change (a read-only export).</summary>
    bool IsReadOnly { get; }

    /// <summary>Identifies the filesystem to clients (the fsid attribute).</summary>
    (ulong Major, ulong Minor) FileSystemId { get; }

    /// <summary>
    /// The largest size, in bytes, a regular file in the export can have (the filesystem's s_maxbytes, at most 2^63-1):
    /// a write that would end beyond it is <see cref="FsStatus.FileTooBig"/>.
    /// </summary>
    ulong MaxFileSize { get; }

    FsResult<FileAttributes> GetAttributes(FileHandle handle);

    /// <summary>
    /// Where the file is now, for operators (logs, the admin views): its path inside the export, "/" for the root and
    /// "/dir/name" below it, as the kernel names it today (a rename since the handle was made shows the new name). Null
    /// when no name inside the export reaches it (removed while open, or stale). Never used to find a file.
    /// </summary>
    string? PathOf(FileHandle handle) => null;

    /// <summary>
    /// The file id (inode number, the file's engine key) of a regular file whose handle the export has resolved
    /// recently, from its cache, with no system call; false for anything else (not cached, not a regular file), and the
    /// caller reads the attributes instead. Lets a caller that must break before it reads attributes skip a second read.
    /// </summary>
    bool TryGetCachedRegularFileId(FileHandle handle, out ulong fileId)
    {
        fileId = 0;
        return false;
    }

    /// <summary>
    /// Takes the bytes of a handle a client sent (PUTFH): BadHandle if this export did not make it (or its length is not
    /// 1 to <see cref="FileHandle.MaxSize"/>), Stale if its file is gone and not pinned; otherwise the handle to keep,
    /// which is the cached instance when the handle is known, so accepting it copies nothing. The check is the one
    /// <see cref="GetAttributes"/> makes.
    /// </summary>
    FsResult<FileHandle> Accept(ReadOnlySpan<byte> received);

    /// <summary>
    /// Keeps the file behind <paramref name="handle"/> reachable through that handle until the returned pin is
    /// disposed, even after its last name is removed (by a client or by a local process), as an open descriptor keeps
    /// an unlinked file on POSIX: GetAttributes then reports 0 links, and Read, Write, Commit and SetAttributes keep
    /// working. Pins on one file are counted; once the last is disposed an unlinked file's handle is Stale. Each
    /// pinned file holds one descriptor of this process. Errors are those of resolving the handle (Stale, BadHandle).
    /// </summary>
    FsResult<FilePin> Pin(FileHandle handle);

    FsResult<FsStats> GetFileSystemStats(FileHandle handle);

    /// <summary>
    /// Looks a name up in a directory. Needs execute (search) permission on the directory. Names here and below are
    /// byte strings (<see cref="FileName"/>): "", ".", ".." and names with "/" or NUL are InvalidName, longer than 255
    /// bytes NameTooLong; any other bytes are a name, UTF-8 or not.
    /// </summary>
    FsResult<FileHandle> Lookup(Caller caller, FileHandle directory, FileName name);

    /// <summary>The directory containing <paramref name="directory"/>; NotFound at the export root (it has no parent here).</summary>
    FsResult<FileHandle> LookupParent(Caller caller, FileHandle directory);

    /// <summary>Which of the asked access bits the caller has, judged from the mode bits (owner, group, other; root may do all but execute a non-executable).</summary>
    FsResult<AccessMask> CheckAccess(Caller caller, FileHandle handle, AccessMask asked);

    /// <summary>A symlink's target, as the bytes stored (1 to 4095 of them, any charset).</summary>
    FsResult<byte[]> ReadLink(Caller caller, FileHandle handle);

    /// <summary>
    /// Lists a directory from just after <paramref name="cookie"/> (0 = the start), at most <paramref name="maxEntries"/>
    /// entries. Cookies stay valid across calls while the entry they name exists. "." and ".." are never listed.
    /// </summary>
    FsResult<(IReadOnlyList<DirectoryEntry> Entries, bool EndOfDirectory)> ReadDirectory(Caller caller, FileHandle directory, ulong cookie, int maxEntries);

    /// <summary>
    /// Reads up to destination.Length bytes at <paramref name="offset"/> (0 to 2^63-1). At or past the end of the file the
    /// answer is 0 bytes and EndOfFile, whatever the offset; a read reaching past 2^63-1 is cut short there.
    /// </summary>
    FsResult<(int Count, bool EndOfFile)> Read(Caller caller, FileHandle file, long offset, Span<byte> destination);

    /// <summary>Writes at <paramref name="offset"/>; with DataSync or FileSync the data is on disk before this returns.</summary>
    ValueTask<FsResult<(int Count, WriteStability Committed)>> WriteAsync(Caller caller, FileHandle file, long offset, ReadOnlyMemory<byte> data, WriteStability stability, ChangeContext context, CancellationToken cancellationToken);

    /// <summary>Flushes earlier unstable writes to disk.</summary>
    FsResult<bool> Commit(FileHandle file);

    /// <summary>
    /// Creates a regular file, or opens the existing one unless <paramref name="exclusive"/>. Returns the handle and
    /// whether it was created.
    /// </summary>
    ValueTask<FsResult<(FileHandle Handle, bool Created)>> CreateFileAsync(Caller caller, FileHandle directory, FileName name, uint mode, bool exclusive, ChangeContext context, CancellationToken cancellationToken);

    ValueTask<FsResult<FileHandle>> CreateDirectoryAsync(Caller caller, FileHandle directory, FileName name, uint mode, ChangeContext context, CancellationToken cancellationToken);

    /// <summary>Makes a symlink whose target is <paramref name="target"/>'s bytes: 1 to 4095, no NUL (Invalid), longer NameTooLong.</summary>
    ValueTask<FsResult<FileHandle>> CreateSymlinkAsync(Caller caller, FileHandle directory, FileName name, ReadOnlyMemory<byte> target, ChangeContext context, CancellationToken cancellationToken);

    /// <summary>Makes a fifo, socket, or block or character device (<paramref name="type"/>); other types are Invalid.</summary>
    ValueTask<FsResult<FileHandle>> CreateNodeAsync(Caller caller, FileHandle directory, FileName name, FileType type, uint mode, uint major, uint minor, ChangeContext context, CancellationToken cancellationToken);

    ValueTask<FsResult<FileHandle>> LinkAsync(Caller caller, FileHandle file, FileHandle directory, FileName name, ChangeContext context, CancellationToken cancellationToken);

    ValueTask<FsStatus> RemoveAsync(Caller caller, FileHandle directory, FileName name, ChangeContext context, CancellationToken cancellationToken);

    ValueTask<FsStatus> RenameAsync(Caller caller, FileHandle fromDirectory, FileName fromName, FileHandle toDirectory, FileName toName, ChangeContext context, CancellationToken cancellationToken);

    ValueTask<FsResult<FileAttributes>> SetAttributesAsync(Caller caller, FileHandle handle, SetAttributes changes, ChangeContext context, CancellationToken cancellationToken);

    /// <summary>The space operations of NFSv4.2 (ALLOCATE, DEALLOCATE, SEEK, READ_PLUS, COPY, CLONE, IO_ADVISE), or null when this tree has none (the NFS layer then answers NFS4ERR_NOTSUPP).</summary>
    IFileSpace? Space => null;

    /// <summary>The user extended attributes of RFC 8276, or null when this tree has none (NFS4ERR_NOTSUPP, and xattr_support is false).</summary>
    IExtendedAttributes? ExtendedAttributes => null;
}

/// <summary>Who is changing a file, for the change gate: the breaker identity the engine needs, opaque here.</summary>
public readonly record struct ChangeContext(ulong BreakerGroup, ulong BreakerId, bool NonBlocking)
{
    /// <summary>A change with no identity that waits for recalls (a local administrative change).</summary>
    public static ChangeContext Anonymous => new(0, 0, false);
}

/// <summary>What a change does to a file, for the gate to decide which grants it recalls.</summary>
public enum ChangeKind
{
    Write,
    Truncate,
    SetAttributes,
    Link,
    Unlink,
    Rename,
    Create,

    /// <summary>ALLOCATE, DEALLOCATE (hole punch) or CLONE onto the file: its block layout and its data or size change.</summary>
    SpaceChange,

    /// <summary>SETXATTR or REMOVEXATTR: the file's extended attributes change (RFC 8276 §4.9.1: delegations are recalled).</summary>
    ExtendedAttributes,
}

/// <summary>
/// Asked before every change the tree makes. The host wires it to the lease engine (the tree itself knows no engine):
/// it recalls conflicting grants and holds the file until the returned scope is disposed. A refusal (a recall still
/// pending in non-blocking mode, an exclusive layout) comes back as a status and the change does not happen.
/// </summary>
public interface IChangeGate
{
    /// <summary>Asks to change the file with id <paramref name="fileId"/> (its inode number).</summary>
    ValueTask<ChangeGrant> BeginAsync(ulong fileId, ChangeKind kind, ChangeContext context, CancellationToken cancellationToken);
}

/// <summary>The gate's answer: go ahead (and dispose when done), or not now.</summary>
public readonly struct ChangeGrant(ChangeRefusal refusal, IDisposable? scope) : IDisposable
{
    public static ChangeGrant Proceed => new(ChangeRefusal.None, null);

    public ChangeRefusal Refusal { get; } = refusal;

    public bool CanProceed => Refusal == ChangeRefusal.None;

    public void Dispose() => scope?.Dispose();
}

public enum ChangeRefusal
{
    None,

    /// <summary>Grants are being recalled; try again shortly (NFS4ERR_DELAY).</summary>
    RecallPending,

    /// <summary>Someone holds an exclusive layout the change cannot break.</summary>
    LayoutBusy,
}

/// <summary>A gate that lets everything through, for trees used without an engine.</summary>
public sealed class OpenGate : IChangeGate
{
    public static OpenGate Instance { get; } = new();

    public ValueTask<ChangeGrant> BeginAsync(ulong fileId, ChangeKind kind, ChangeContext context, CancellationToken cancellationToken) =>
        new(ChangeGrant.Proceed);
}
