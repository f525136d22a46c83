using Leasehold.Export.Local;
using Leasehold.Export.LocalAccess;
using Leasehold.Export.Native;
using Microsoft.Extensions.Logging;
using static Leasehold.Export.Local.Descriptors;

namespace Leasehold.Export;

/// <summary>
/// An <see cref="IExportedTree"/> over a local Linux directory, by file descriptors and kernel file handles, never by
/// path strings.
/// </summary>
/// <remarks>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Every file is reached from a handle this export signed (<see cref="HandleSigner"/>), through
/// open_by_handle_at(2) on the export root, and is then checked to still be inside the export
/// (<see cref="HandleTable.Resolve(FileHandle, out SafeFd, out Statx)"/>). A name is one component (<see cref="Names"/>), opened with O_NOFOLLOW relative to a directory fd: no path walk,
/// no symlink is ever followed on the server, so nothing a client sends can reach above the root.</item>
/// <item>The process runs as root (open_by_handle_at needs CAP_DAC_READ_SEARCH); permission is decided here from the
/// mode bits for the <see cref="Caller"/> (<see cref="ModeBits"/>), and new files are chowned to the caller.</item>
/// <item>Every change asks the <see cref="IChangeGate"/> first and holds the grant until the change is made; a refusal
/// means nothing changed.</item>
/// <item>Every fd is a <see cref="SafeFd"/>, disposed on every path. errno is read right after the failing call,
/// before any other call (closing an fd sets errno too).</item>
/// </list>
/// <para>This class is the facade: it builds the export's parts, forwards each operation to the part that owns it, and
/// disposes them. Each concern is a class of its own in Local/ (namespace Leasehold.Export.Local):</para>
/// <list type="bullet">
/// <item><see cref="HandleTable"/>: handles to verified descriptors and back: signing, open_by_handle_at, the
/// inside-the-export check, the cache of verified handles (<see cref="ResolvedHandle"/>) and its sweep, pins, making
/// handles (PIN, ACCEPT and the seam's Resolve*).</item>
/// <item><see cref="FileData"/>: READ (with cached readers), WRITE, COMMIT.</item>
/// <item><see cref="NamespaceChanges"/>: creating files, directories, symlinks and nodes, LINK, REMOVE, RENAME.</item>
/// <item><see cref="AttributeAccess"/>: GETATTR, SETATTR, ACCESS, filesystem statistics.</item>
/// <item><see cref="DirectoryReader"/>: LOOKUP, LOOKUPP, READDIR, READLINK.</item>
/// <item><see cref="LocalAccessGuards"/>: guards against local processes (<see cref="ILocalAccessGuard"/>), and the
/// export's own descriptors and suspensions beside them.</item>
/// <item><see cref="Durability"/>: the fsyncs that make a directory change durable before it is answered.</item>
/// <item><see cref="FileSpace"/>, <see cref="FileCopy"/>, <see cref="Local.ExtendedAttributes"/>: the NFSv4.2
/// operations, over the members marked "the seam".</item>
/// <item><see cref="Descriptors"/> and <see cref="Failures"/>: the descriptor calls and the errno mapping they all share.</item>
/// </list>
/// <para>No locks: the kernel orders concurrent calls, as it would for local processes. The only mutable state after
/// construction is the cache of verified handles and the pinned files (<see cref="HandleTable"/>), each safe for
/// concurrent use. A regular file the kernel returns "disconnected" is accepted on the strength of its signature (see
/// the limitation in <see cref="HandleTable"/>).</para>
/// </remarks>
public sealed class LocalDirectoryTree : IExportedTree, ILocalAccessGuard, IDisposable
{
    private readonly Failures _failures;
    private readonly Durability _durability;
    private readonly HandleTable _handles;
    private readonly LocalAccessGuards _guards;
    private readonly FileData _data;
    private readonly NamespaceChanges _namespace;
    private readonly AttributeAccess _attributes;
    private readonly DirectoryReader _directories;
    private readonly FileCopy _copies;
    private readonly FileSpace _space;
    private readonly ExtendedAttributes? _xattrs;

    // Empties stale entries out of the cache (HandleTable.SweepStale); started last in the constructor.
    private readonly ITimer _sweeper;

    /// <param name="options">What is exported, and how (Export:LocalAccess, Export:MaxKernelLeases among them).</param>
    /// <param name="gate">Asked before every change.</param>
    /// <param name="logger">Export log events (2xxx).</param>
    /// <param name="localAccess">
    /// Receives local processes' access to guarded files (<see cref="ILocalAccessGuard"/>), on the export's watcher
    /// thread. Null: nothing is guarded (<see cref="Mechanism"/> None), and no watcher thread is started.
    /// </param>
    /// <param name="handleKey">
    /// The base key handles are signed with (<see cref="HandleKeyFile.KeySize"/> bytes), given by the host: a cluster's
    /// nodes share one, so a handle one node gave out works on every node. Null: the key in the state directory, made
    /// there on first start. Either way the signing key is bound to this export's root (<see cref="HandleSigner.ForExport"/>).
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="handleKey"/> is not <see cref="HandleKeyFile.KeySize"/> bytes.</exception>
    public LocalDirectoryTree(ExportOptions options, IChangeGate gate, ILogger<LocalDirectoryTree> logger, ILocalAccessSink? localAccess = null,
        byte[]? handleKey = null)
        : this(options, gate, (ILogger)logger, localAccess, handleKey)
    {
    }

    internal LocalDirectoryTree(ExportOptions options, IChangeGate gate, ILogger logger, ILocalAccessSink? localAccess = null, byte[]? handleKey = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(gate);
        ArgumentNullException.ThrowIfNull(logger);
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("LocalDirectoryTree needs Linux: file handles, O_PATH and /proc/self/fd.");
        options.Validate();
        Options = options;
        Gate = gate;
        Logger = logger;
        _failures = new Failures(logger);
        _durability = new Durability(options, logger);

        // O_RDONLY rather than O_PATH: on current kernels open_by_handle_at refuses an O_PATH mount fd (EBADF).
        SafeFd root = LibC.openat(LibC.AT_FDCWD, options.FullPath, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
        if (root.IsInvalid)
        {
            int errno = LibC.LastErrno;
            root.Dispose();
            throw new DirectoryNotFoundException($"Cannot open the export {options.FullPath}: errno {errno}.");
        }
        try
        {
            string rootPath = ReadProcLink(root) ?? throw new IOException("Cannot read the export's path from /proc/self/fd.");
            string stateDirectory = options.ResolvedStateDirectory;
            Directory.CreateDirectory(stateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            string canonicalState = CanonicalPath(stateDirectory) ?? stateDirectory;
            if (ExportOptions.IsSameOrInside(canonicalState, rootPath))
                throw new ArgumentException($"State directory {canonicalState} is inside the export {rootPath}: clients could read the handle key.");

            if (Stat(root, out Statx rootStat) != 0)
                throw new IOException($"Cannot stat the export {rootPath}: errno {LibC.LastErrno}.");
            FileSystemId = (rootStat.DevMajor, rootStat.DevMinor);
            MaxFileSize = ProbeMaxFileSize(root);

            if (!HandleTable.TryGetKernelHandle(root, out int type, out byte[] kernelHandle, out int rootMountId, out int handleErrno))
                throw new IOException($"The filesystem of {rootPath} gives no file handles (name_to_handle_at errno {handleErrno}); it cannot be exported.");
            var baseSigner = handleKey is null ? HandleSigner.LoadOrCreate(stateDirectory, logger) : new HandleSigner((byte[])handleKey.Clone());
            HandleSigner signer = baseSigner.ForExport(type, kernelHandle);
            RootHandle = signer.Sign(type, kernelHandle);
            _handles = new HandleTable(root, rootPath, rootStat.Ino, rootMountId, signer, _failures, logger);
            Log.Exporting(logger, rootPath, options.ReadOnly, options.RootSquash, options.SyncDirectoryChanges, rootStat.DevMajor, rootStat.DevMinor);
            _guards = LocalAccessGuards.Start(options, root, localAccess, _handles, _failures, logger);
            _data = new FileData(_handles, _guards, options, gate, _failures, MaxFileSize);
            _namespace = new NamespaceChanges(_handles, _guards, _durability, options, gate, _failures);
            _attributes = new AttributeAccess(_handles, _guards, options, gate, _failures);
            _directories = new DirectoryReader(_handles, _failures, logger);
            _copies = new FileCopy(this);
            _space = new FileSpace(this, _copies);
            _xattrs = Local.ExtendedAttributes.IsSupportedAt(rootPath) ? new ExtendedAttributes(this) : null;
            _sweeper = TimeProvider.System.CreateTimer(static handles => ((HandleTable)handles!).SweepStale(), _handles, SweepInterval, SweepInterval);
        }
        catch
        {
            root.Dispose();
            throw;
        }
    }

    public FileHandle RootHandle { get; }

    public bool IsReadOnly => Options.ReadOnly;

    public (ulong Major, ulong Minor) FileSystemId { get; }

    public ulong MaxFileSize { get; }

    public IFileSpace Space => _space;

    /// <summary>The user extended attributes, or null when the export's filesystem keeps none (probed at start).</summary>
    public IExtendedAttributes? ExtendedAttributes => _xattrs;

    /// <summary>Stops the watcher, then releases every guard (so no local process waits on us), then closes the cache.</summary>
    public void Dispose()
    {
        _sweeper.Dispose();
        _guards.Dispose();
        _handles.Dispose();
    }

    // ---------------------------------------------------------------- IExportedTree, by the part that owns each

    public FsResult<FilePin> Pin(FileHandle handle) => _handles.Pin(handle);

    public string? PathOf(FileHandle handle) => _handles.PathOf(handle);

    public FsResult<FileHandle> Accept(ReadOnlySpan<byte> received) => _handles.Accept(received);

    public bool TryGetCachedRegularFileId(FileHandle handle, out ulong fileId) => _handles.TryGetCachedRegularFileId(handle, out fileId);

    public FsResult<FileAttributes> GetAttributes(FileHandle handle) => _attributes.GetAttributes(handle);

    public ValueTask<FsResult<FileAttributes>> SetAttributesAsync(Caller caller, FileHandle handle, SetAttributes changes, ChangeContext context,
        CancellationToken cancellationToken) =>
        _attributes.SetAttributesAsync(caller, handle, changes, context, cancellationToken);

    public FsResult<AccessMask> CheckAccess(Caller caller, FileHandle handle, AccessMask asked) => _attributes.CheckAccess(caller, handle, asked);

    public FsResult<FsStats> GetFileSystemStats(FileHandle handle) => _attributes.GetFileSystemStats(handle);

    /// <remarks>
    /// The handle is made from the name (name_to_handle_at, one component, no symlink followed): see <see cref="DirectoryReader.Lookup"/>.
    /// </remarks>
    public FsResult<FileHandle> Lookup(Caller caller, FileHandle directory, FileName name) => _directories.Lookup(caller, directory, name);

    public FsResult<FileHandle> LookupParent(Caller caller, FileHandle directory) => _directories.LookupParent(caller, directory);

    public FsResult<(IReadOnlyList<DirectoryEntry> Entries, bool EndOfDirectory)> ReadDirectory(Caller caller, FileHandle directory, ulong cookie, int maxEntries) =>
        _directories.ReadDirectory(caller, directory, cookie, maxEntries);

    public FsResult<byte[]> ReadLink(Caller caller, FileHandle handle) => _directories.ReadLink(caller, handle);

    public FsResult<(int Count, bool EndOfFile)> Read(Caller caller, FileHandle file, long offset, Span<byte> destination) =>
        _data.Read(caller, file, offset, destination);

    public ValueTask<FsResult<(int Count, WriteStability Committed)>> WriteAsync(Caller caller, FileHandle file, long offset, ReadOnlyMemory<byte> data,
        WriteStability stability, ChangeContext context, CancellationToken cancellationToken) =>
        _data.WriteAsync(caller, file, offset, data, stability, context, cancellationToken);

    public FsResult<bool> Commit(FileHandle file) => _data.Commit(file);

    public ValueTask<FsResult<(FileHandle Handle, bool Created)>> CreateFileAsync(Caller caller, FileHandle directory, FileName name, uint mode, bool exclusive,
        ChangeContext context, CancellationToken cancellationToken) =>
        _namespace.CreateFileAsync(caller, directory, name, mode, exclusive, context, cancellationToken);

    public ValueTask<FsResult<FileHandle>> CreateDirectoryAsync(Caller caller, FileHandle directory, FileName name, uint mode, ChangeContext context,
        CancellationToken cancellationToken) =>
        _namespace.CreateDirectoryAsync(caller, directory, name, mode, context, cancellationToken);

    public ValueTask<FsResult<FileHandle>> CreateSymlinkAsync(Caller caller, FileHandle directory, FileName name, ReadOnlyMemory<byte> target, ChangeContext context,
        CancellationToken cancellationToken) =>
        _namespace.CreateSymlinkAsync(caller, directory, name, target, context, cancellationToken);

    public ValueTask<FsResult<FileHandle>> CreateNodeAsync(Caller caller, FileHandle directory, FileName name, FileType type, uint mode, uint major, uint minor,
        ChangeContext context, CancellationToken cancellationToken) =>
        _namespace.CreateNodeAsync(caller, directory, name, type, mode, major, minor, context, cancellationToken);

    public ValueTask<FsResult<FileHandle>> LinkAsync(Caller caller, FileHandle file, FileHandle directory, FileName name, ChangeContext context,
        CancellationToken cancellationToken) =>
        _namespace.LinkAsync(caller, file, directory, name, context, cancellationToken);

    public ValueTask<FsStatus> RemoveAsync(Caller caller, FileHandle directory, FileName name, ChangeContext context, CancellationToken cancellationToken) =>
        _namespace.RemoveAsync(caller, directory, name, context, cancellationToken);

    public ValueTask<FsStatus> RenameAsync(Caller caller, FileHandle fromDirectory, FileName fromName, FileHandle toDirectory, FileName toName,
        ChangeContext context, CancellationToken cancellationToken) =>
        _namespace.RenameAsync(caller, fromDirectory, fromName, toDirectory, toName, context, cancellationToken);

    // ---------------------------------------------------------------- ILocalAccessGuard

    public LocalAccessMechanism Mechanism => _guards.Mechanism;

    public string? UnavailableReason => _guards.UnavailableReason;

    /// <summary>
    /// Guards a regular file against local processes until the guard is disposed (ILocalAccessGuard). Unavailable when
    /// nothing can guard here, or the handle is bad, stale or not a regular file; Busy when a local process (or the
    /// export's own descriptor) has it open in a conflicting way; Resource at Export:MaxKernelLeases or out of descriptors.
    /// </summary>
    public GuardStatus Guard(FileHandle file, GuardMode mode, out IDisposable? guard) => _guards.Guard(file, mode, out guard);

    // ---------------------------------------------------------------- the seam (FileSpace, FileCopy, ExtendedAttributes)

    /// <summary>The seam: the change gate every change asks first.</summary>
    internal IChangeGate Gate { get; }

    /// <summary>The seam: the export's options (ReadOnly, SyncDirectoryChanges, ...).</summary>
    internal ExportOptions Options { get; }

    /// <summary>The seam: the export's logger.</summary>
    internal ILogger Logger { get; }

    /// <summary>
    /// The seam: <see cref="HandleTable.Resolve(FileHandle, out SafeFd, out Statx)"/>. On Ok the caller owns
    /// <paramref name="fd"/> (an O_PATH descriptor, usually a borrow of a cached one) and disposes it.
    /// </summary>
    internal FsStatus Resolve(FileHandle handle, out SafeFd fd, out Statx st) => _handles.Resolve(handle, out fd, out st);

    /// <summary>
    /// The seam: <see cref="HandleTable.Resolve(FileHandle, out SafeFd, out Statx, out long)"/>, and when the file was last
    /// found inside the export (<see cref="HandleTable.NeverChecked"/> for a file reached through its pin alone).
    /// </summary>
    internal FsStatus Resolve(FileHandle handle, out SafeFd fd, out Statx st, out long checkedAt) => _handles.Resolve(handle, out fd, out st, out checkedAt);

    /// <summary>The seam: <see cref="HandleTable.ResolveRegular"/> (IsDirectory or WrongType for anything else).</summary>
    internal FsStatus ResolveRegular(FileHandle handle, out SafeFd fd, out Statx st) => _handles.ResolveRegular(handle, out fd, out st);

    /// <summary>The seam: <see cref="HandleTable.ResolveDirectory(FileHandle, bool, out SafeFd, out Statx)"/>.</summary>
    internal FsStatus ResolveDirectory(FileHandle handle, bool forLookup, out SafeFd fd, out Statx st) =>
        _handles.ResolveDirectory(handle, forLookup, out fd, out st);

    /// <summary>The seam: <see cref="HandleTable.ResolveDirectory(FileHandle, bool, out SafeFd, out Statx, out long)"/>.</summary>
    internal FsStatus ResolveDirectory(FileHandle handle, bool forLookup, out SafeFd fd, out Statx st, out long checkedAt) =>
        _handles.ResolveDirectory(handle, forLookup, out fd, out st, out checkedAt);

    /// <summary>
    /// The seam: <see cref="LocalAccessGuards.OpenOwn"/>, the export's own descriptor for I/O on <paramref name="ino"/>
    /// (never one that breaks our own guard). Check <see cref="OwnIo.Fd"/>.IsInvalid and answer <see cref="OwnOpenFailed"/>.
    /// </summary>
    internal OwnIo OpenOwn(SafeFd fd, ulong ino, int flags) => _guards.OpenOwn(fd, ino, flags);

    /// <summary>The seam: <see cref="LocalAccessGuards.OwnOpenFailed"/> (Delay when the open conflicted with a kernel lease).</summary>
    internal FsStatus OwnOpenFailed(in OwnIo io, string operation, ulong ino) => _guards.OwnOpenFailed(io, operation, ino);

    /// <summary>The seam: <see cref="LocalAccessGuards.SuspendFor"/>, around the export's own change where a guard would break it.</summary>
    internal KernelLeases.Suspension SuspendFor(ulong ino, ChangeKind kind) => _guards.SuspendFor(ino, kind);

    /// <summary>The seam: <see cref="Descriptors.Reopen"/>.</summary>
    internal static SafeFd Reopen(SafeFd fd, int flags) => Descriptors.Reopen(fd, flags);

    /// <summary>The seam: <see cref="Descriptors.Stat"/>.</summary>
    internal static int Stat(SafeFd fd, out Statx st) => Descriptors.Stat(fd, out st);

    /// <summary>The seam: <see cref="Durability.Sync"/>, fsync(2) of a descriptor (an O_PATH one with <paramref name="isPath"/>); Io when it fails.</summary>
    internal FsStatus Sync(SafeFd fd, bool isPath, string change) => _durability.Sync(fd, isPath, change);

    /// <summary>The seam: <see cref="Failures.Refused"/>.</summary>
    internal static FsStatus Refused(in ChangeGrant grant) => Failures.Refused(grant);

    /// <summary>The seam: <see cref="Failures.Fail(string)"/> (reads errno: call it right after the failing call).</summary>
    internal FsStatus Fail(string operation) => _failures.Fail(operation);

    /// <summary>The seam: <see cref="Failures.Fail(string, int)"/>.</summary>
    internal FsStatus Fail(string operation, int errno) => _failures.Fail(operation, errno);

    /// <summary>The seam: <see cref="Failures.Stabilize"/>.</summary>
    internal FsStatus Stabilize(SafeFd output, WriteStability stability) => _failures.Stabilize(output, stability);

    // ---------------------------------------------------------------- for tests

    /// <summary>How long a verified handle is trusted to still be inside the export (<see cref="HandleTable.ExportCheckInterval"/>). Tests set it to zero.</summary>
    internal TimeSpan ExportCheckInterval { get => _handles.ExportCheckInterval; set => _handles.ExportCheckInterval = value; }

    /// <summary>The clock for <see cref="ExportCheckInterval"/>.</summary>
    internal TimeProvider Time { get => _handles.Time; set => _handles.Time = value; }

    /// <summary><see cref="HandleTable.SweepStale"/>: drops stale cached verifications; returns how many.</summary>
    internal int SweepStale() => _handles.SweepStale();

    /// <summary>How often <see cref="SweepStale"/> runs (<see cref="HandleTable.SweepInterval"/>).</summary>
    internal static TimeSpan SweepInterval => HandleTable.SweepInterval;

    /// <summary>Whether the cache of verified handles holds <paramref name="handle"/> (fresh or not).</summary>
    internal bool IsCached(FileHandle handle) => _handles.IsCached(handle);

    /// <summary>How many files are pinned (<see cref="Pin"/>), each holding one descriptor.</summary>
    internal int PinnedCount => _handles.PinnedCount;

    /// <summary>The guard table; null when local access is not guarded.</summary>
    internal KernelLeases? Leases => _guards.Leases;

    /// <summary>The watcher; null when local access is not guarded.</summary>
    internal LocalAccessWatcher? Watcher => _guards.Watcher;

    /// <summary>
    /// Called with the inode number of every file or directory synced by a directory change (after its fsync
    /// succeeded), on the thread that made the change (<see cref="Durability.Synced"/>).
    /// </summary>
    internal Action<ulong>? Synced { get => _durability.Synced; set => _durability.Synced = value; }

    /// <summary>When not 0, every directory-change sync fails with this errno instead of calling fsync (<see cref="Durability.FailSyncsWith"/>).</summary>
    internal int FailSyncsWith { get => _durability.FailSyncsWith; set => _durability.FailSyncsWith = value; }

    // ---------------------------------------------------------------- construction

    /// <summary>
    /// The filesystem's largest file size (its s_maxbytes), which no system call reports directly: lseek(2) on a regular
    /// file refuses an offset beyond it (EINVAL), so a binary search on an unnamed O_TMPFILE file (never linked, gone
    /// when closed) finds it. Where O_TMPFILE is not supported (or the mount is read-only) the answer is 2^63-1, the
    /// most off_t can say.
    /// </summary>
    private static ulong ProbeMaxFileSize(SafeFd root)
    {
        using SafeFd probe = LibC.openat(root, ".", LibC.O_TMPFILE | LibC.O_RDWR | LibC.O_CLOEXEC, 0b110_000_000);
        if (probe.IsInvalid || LibC.lseek(probe, long.MaxValue, LibC.SEEK_SET) >= 0)
            return long.MaxValue;
        long accepted = 0, refused = long.MaxValue;
        while (refused - accepted > 1)
        {
            long middle = accepted + ((refused - accepted) / 2);
            if (LibC.lseek(probe, middle, LibC.SEEK_SET) >= 0)
                accepted = middle;
            else
                refused = middle;
        }
        return (ulong)accepted;
    }

    /// <summary>
    /// The path of a file or directory with every symlink and "." or ".." resolved, as the kernel sees it (realpath(3));
    /// null when it does not exist or cannot be reached.
    /// </summary>
    public static string? CanonicalPath(string path)
    {
        using SafeFd fd = LibC.openat(LibC.AT_FDCWD, path, LibC.O_PATH | LibC.O_CLOEXEC, 0);
        return fd.IsInvalid ? null : ReadProcLink(fd);
    }
}
