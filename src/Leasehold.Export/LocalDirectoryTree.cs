using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Leasehold.Export.Native;
using Microsoft.Extensions.Logging;

namespace Leasehold.Export;

/// <summary>
/// An <see cref="IExportedTree"/> over a local Linux directory, by file descriptors and kernel file handles, never by
/// path strings.
/// </summary>
/// <remarks>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Every file is reached from a handle this export signed (<see cref="HandleSigner"/>), through
/// open_by_handle_at(2) on the export root, and is then checked to still be inside the export (<see cref="Resolve"/>).
/// A name is one component (<see cref="Names"/>), opened with O_NOFOLLOW relative to a directory fd: no path walk,
/// no symlink is ever followed on the server, so nothing a client sends can reach above the root.</item>
/// <item>The process runs as root (open_by_handle_at needs CAP_DAC_READ_SEARCH); permission is decided here from the
/// mode bits for the <see cref="Caller"/> (<see cref="ModeBits"/>), and new files are chowned to the caller.</item>
/// <item>Every change asks the <see cref="IChangeGate"/> first and holds the grant until the change is made; a refusal
/// means nothing changed.</item>
/// <item>Every fd is a <see cref="SafeFd"/>, disposed on every path. errno is read right after the failing call,
/// before any other call (closing an fd sets errno too).</item>
/// </list>
/// <para>No locks: the kernel orders concurrent calls, as it would for local processes. The only mutable state after
/// construction is the cache of verified handles and the pinned files (<see cref="Pin"/>), each safe for concurrent
/// use.</para>
/// <para>Limitation: a regular file whose dentry the kernel has evicted comes back from open_by_handle_at
/// "disconnected" (its /proc path reads "/"), so where it lives cannot be checked; it is accepted on the strength of the
/// signature (it was inside when its handle was issued), as knfsd does with no_subtree_check. Directories are always
/// reconnected by the kernel and always checked.</para>
/// </remarks>
public sealed class LocalDirectoryTree : IExportedTree, IDisposable
{
    /// <summary>
    /// getdents64 offsets become cookies by adding 3, so no cookie is 0, 1 or 2, which NFSv4 reserves (RFC 8881
    /// §18.23.3); d_off is a non-negative 63-bit value, so the sum never overflows.
    /// </summary>
    internal const ulong CookieBias = 3;

    private const int DirectoryBufferSize = 32 * 1024;

    private readonly ExportOptions _options;
    private readonly IChangeGate _gate;
    private readonly ILogger _logger;
    private readonly HandleSigner _signer;

    // O_RDONLY rather than O_PATH: on current kernels open_by_handle_at refuses an O_PATH mount fd (EBADF).
    private readonly SafeFd _root;

    // Verified handles and an O_PATH descriptor for each: a hit costs a dup and a statx instead of HMAC,
    // open_by_handle_at, a /proc readlink and a close. "Still inside the export" is checked again once an entry is
    // older than ExportCheckInterval, so a file moved out of the export is refused at most that long after the move;
    // a deleted file is refused at once (its link count is 0). Bounded: the cache is emptied when it fills.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<FileHandle, ResolvedHandle> _resolved = new();
    private const int MaxResolvedHandles = 8192;

    // Files kept reachable after their last name is removed (open files); see Pin and ResolvePinned.
    private readonly PinnedFiles _pins;

    /// <summary>How long a verified handle is trusted to still be inside the export. Tests set it to zero.</summary>
    internal TimeSpan ExportCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The clock for <see cref="ExportCheckInterval"/>.</summary>
    internal TimeProvider Time { get; set; } = TimeProvider.System;

    private sealed class ResolvedHandle(SafeFd fd, long checkedAt)
    {
        public SafeFd Fd { get; } = fd;

        public long CheckedAt { get; } = checkedAt;

        /// <summary>An O_RDONLY descriptor, opened by the first READ and kept for the next ones.</summary>
        public SafeFd? Reader;

        public void Dispose()
        {
            Fd.Dispose();
            Interlocked.Exchange(ref Reader, null)?.Dispose();
        }
    }
    private readonly string _rootPath;
    private readonly ulong _rootIno;
    private readonly int _rootMountId;

    public LocalDirectoryTree(ExportOptions options, IChangeGate gate, ILogger<LocalDirectoryTree> logger)
        : this(options, gate, (ILogger)logger)
    {
    }

    internal LocalDirectoryTree(ExportOptions options, IChangeGate gate, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(gate);
        ArgumentNullException.ThrowIfNull(logger);
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("LocalDirectoryTree needs Linux: file handles, O_PATH and /proc/self/fd.");
        options.Validate();
        _options = options;
        _gate = gate;
        _logger = logger;
        _pins = new PinnedFiles(ForgetCached);

        _root = LibC.openat(LibC.AT_FDCWD, options.FullPath, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
        if (_root.IsInvalid)
        {
            int errno = LibC.LastErrno;
            _root.Dispose();
            throw new DirectoryNotFoundException($"Cannot open the export {options.FullPath}: errno {errno}.");
        }
        try
        {
            _rootPath = ReadProcLink(_root) ?? throw new IOException("Cannot read the export's path from /proc/self/fd.");
            string stateDirectory = options.ResolvedStateDirectory;
            Directory.CreateDirectory(stateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            string canonicalState = CanonicalPath(stateDirectory) ?? stateDirectory;
            if (ExportOptions.IsSameOrInside(canonicalState, _rootPath))
                throw new ArgumentException($"State directory {canonicalState} is inside the export {_rootPath}: clients could read the handle key.");

            if (Stat(_root, out Statx rootStat) != 0)
                throw new IOException($"Cannot stat the export {_rootPath}: errno {LibC.LastErrno}.");
            _rootIno = rootStat.Ino;
            FileSystemId = (rootStat.DevMajor, rootStat.DevMinor);
            MaxFileSize = ProbeMaxFileSize(_root);

            if (!TryGetKernelHandle(_root, out int type, out byte[] kernelHandle, out _rootMountId, out int handleErrno))
                throw new IOException($"The filesystem of {_rootPath} gives no file handles (name_to_handle_at errno {handleErrno}); it cannot be exported.");
            _signer = HandleSigner.LoadOrCreate(stateDirectory, logger).ForExport(type, kernelHandle);
            RootHandle = _signer.Sign(type, kernelHandle);
            Log.Exporting(logger, _rootPath, options.ReadOnly, options.RootSquash, rootStat.DevMajor, rootStat.DevMinor);
        }
        catch
        {
            _root.Dispose();
            throw;
        }
    }

    public FileHandle RootHandle { get; }

    public bool IsReadOnly => _options.ReadOnly;

    public (ulong Major, ulong Minor) FileSystemId { get; }

    public ulong MaxFileSize { get; }

    public void Dispose()
    {
        foreach (var entry in _resolved.Values)
            entry.Dispose();
        _resolved.Clear();
        _pins.Dispose();
        _root.Dispose();
    }

    /// <summary>How many files are pinned (<see cref="Pin"/>), each holding one descriptor.</summary>
    internal int PinnedCount => _pins.Count;

    public FsResult<FilePin> Pin(FileHandle handle)
    {
        FsStatus status = Resolve(handle, out SafeFd fd, out _);
        if (status != FsStatus.Ok)
            return status;
        return _pins.Add(handle, fd);
    }

    // ---------------------------------------------------------------- reading

    public FsResult<FileAttributes> GetAttributes(FileHandle handle)
    {
        // Fast path: a recently verified handle is one statx on its cached descriptor (no dup, no close).
        if (TryGetFresh(handle, out var entry) && Stat(entry.Fd, out Statx cached) == 0 && cached.NumLinks > 0)
            return Attributes.From(cached);
        FsStatus status = Resolve(handle, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        fd.Dispose();
        return Attributes.From(st);
    }

    public FsResult<FsStats> GetFileSystemStats(FileHandle handle)
    {
        FsStatus status = Resolve(handle, out SafeFd fd, out _);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (LibC.fstatfs(fd, out StatFs fs) != 0)
                return Fail(nameof(LibC.fstatfs));
            return Attributes.From(fs);
        }
    }

    public FsResult<FileHandle> Lookup(Caller caller, FileHandle directory, FileName name)
    {
        FsStatus status = ResolveDirectory(directory, forLookup: true, out SafeFd dir, out Statx dirStat);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if ((status = Names.Check(name)) != FsStatus.Ok)
                return status;
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Execute))
                return FsStatus.AccessDenied;
            using SafeFd child = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
            if (child.IsInvalid)
                return Fail(nameof(LibC.openat));
            return MakeHandle(child);
        }
    }

    public FsResult<FileHandle> LookupParent(Caller caller, FileHandle directory)
    {
        FsStatus status = ResolveDirectory(directory, forLookup: true, out SafeFd dir, out Statx dirStat);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if (dirStat.Ino == _rootIno)
                return FsStatus.NotFound; // the root has no parent in the export (one filesystem: the inode says it)
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Execute))
                return FsStatus.AccessDenied;
            using SafeFd parent = LibC.openat(dir, "..", LibC.O_PATH | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
            if (parent.IsInvalid)
                return Fail(nameof(LibC.openat));
            return MakeHandle(parent);
        }
    }

    public FsResult<AccessMask> CheckAccess(Caller caller, FileHandle handle, AccessMask asked)
    {
        FsStatus status = Resolve(handle, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        fd.Dispose();
        return ModeBits.Granted(caller, st, asked, _options.ReadOnly);
    }

    public unsafe FsResult<byte[]> ReadLink(Caller caller, FileHandle handle)
    {
        FsStatus status = Resolve(handle, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (!st.IsSymlink)
                return FsStatus.WrongType;
            byte* buffer = stackalloc byte[Names.MaxSymlinkTargetBytes + 1];
            nint length = LibC.readlinkat(fd, "", buffer, Names.MaxSymlinkTargetBytes + 1);
            if (length < 0)
                return Fail(nameof(LibC.readlinkat));
            return new ReadOnlySpan<byte>(buffer, (int)length).ToArray();
        }
    }

    public unsafe FsResult<(IReadOnlyList<DirectoryEntry> Entries, bool EndOfDirectory)> ReadDirectory(Caller caller, FileHandle directory, ulong cookie, int maxEntries)
    {
        if (maxEntries <= 0 || cookie is 1 or 2 || (cookie != 0 && cookie - CookieBias > long.MaxValue))
            return FsStatus.Invalid;
        FsStatus status = ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Read))
                return FsStatus.AccessDenied;

            // getdents64 needs a readable fd; reopen the same directory through its O_PATH fd.
            using SafeFd stream = LibC.openat(dir, ".", LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
            if (stream.IsInvalid)
                return Fail(nameof(LibC.openat));
            if (cookie != 0 && LibC.lseek(stream, (long)(cookie - CookieBias), LibC.SEEK_SET) < 0)
                return Fail(nameof(LibC.lseek));

            var entries = new List<DirectoryEntry>(Math.Min(maxEntries, 256));
            byte[] buffer = ArrayPool<byte>.Shared.Rent(DirectoryBufferSize);
            try
            {
                fixed (byte* start = buffer)
                {
                    while (true)
                    {
                        nint read = LibC.getdents64(stream, start, (nuint)buffer.Length);
                        if (read < 0)
                            return Fail(nameof(LibC.getdents64));
                        if (read == 0)
                            return ((IReadOnlyList<DirectoryEntry>)entries, true);

                        // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                        for (int at = 0; at < read;)
                        {
                            byte* record = start + at;
                            long offset = BinaryPrimitives.ReadInt64LittleEndian(new ReadOnlySpan<byte>(record + 8, 8));
                            at += BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(record + 16, 2));
                            byte* namePointer = record + 19;
                            var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(namePointer);
                            if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
                                continue;
                            if (entries.Count == maxEntries)
                                return ((IReadOnlyList<DirectoryEntry>)entries, false); // one more entry exists: not the end
                            DirectoryEntry? entry = ReadEntry(dir, namePointer, name, (ulong)offset + CookieBias, out status);
                            if (status != FsStatus.Ok)
                                return status;
                            if (entry is not null)
                                entries.Add(entry);
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    public FsResult<(int Count, bool EndOfFile)> Read(Caller caller, FileHandle file, long offset, Span<byte> destination)
    {
        if (offset < 0)
            return FsStatus.Invalid;
        // pread(2) refuses (EINVAL) a range whose end does not fit in off_t; no file reaches there, so stop short of it.
        if (destination.Length > long.MaxValue - offset)
            destination = destination[..(int)(long.MaxValue - offset)];
        if (TryReadCached(caller, file, offset, destination, out var cached))
            return cached;
        FsStatus status = ResolveRegular(file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (!MayRead(caller, st))
                return FsStatus.AccessDenied;
            using SafeFd data = Reopen(fd, LibC.O_RDONLY);
            if (data.IsInvalid)
                return Fail("open");
            return ReadAll(data, offset, destination);
        }
    }

    /// <summary>
    /// READ's fast path: a recently verified handle with a read descriptor already open costs one statx (for the
    /// permission check and the link count) and the pread.
    /// </summary>
    private bool TryReadCached(Caller caller, FileHandle file, long offset, Span<byte> destination, out FsResult<(int Count, bool EndOfFile)> result)
    {
        result = default;
        if (!TryGetFresh(file, out var entry))
            return false;
        var reader = Volatile.Read(ref entry.Reader);
        if (reader is null)
        {
            using SafeFd opened = Reopen(entry.Fd, LibC.O_RDONLY);
            if (opened.IsInvalid)
                return false;
            SafeFd keep = LibC.DuplicateFd(opened, LibC.F_DUPFD_CLOEXEC, 0);
            if (keep.IsInvalid)
            {
                keep.Dispose();
                return false;
            }
            reader = Interlocked.CompareExchange(ref entry.Reader, keep, null) ?? keep;
            if (reader != keep)
                keep.Dispose();
        }
        if (Stat(reader, out Statx st) != 0 || st.NumLinks == 0 || !st.IsRegular)
            return false; // let the slow path give the precise answer
        if (!MayRead(caller, st))
        {
            result = FsStatus.AccessDenied;
            return true;
        }
        result = ReadAll(reader, offset, destination);
        return true;
    }

    public FsResult<bool> Commit(FileHandle file)
    {
        FsStatus status = ResolveRegular(file, out SafeFd fd, out _);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            using SafeFd data = Reopen(fd, LibC.O_RDONLY);
            if (data.IsInvalid)
                return Fail("open");
            if (LibC.fsync(data) != 0)
                return Fail(nameof(LibC.fsync));
            return true;
        }
    }

    // ---------------------------------------------------------------- changing

    public async ValueTask<FsResult<(int Count, WriteStability Committed)>> WriteAsync(Caller caller, FileHandle file, long offset, ReadOnlyMemory<byte> data, WriteStability stability, ChangeContext context, CancellationToken cancellationToken)
    {
        if (_options.ReadOnly)
            return FsStatus.ReadOnly;
        if (offset < 0)
            return FsStatus.Invalid;
        if (!data.IsEmpty && (ulong)offset + (ulong)data.Length > MaxFileSize)
            return FsStatus.FileTooBig; // all or nothing: the kernel would write the part below the limit, then refuse
        FsStatus status = ResolveRegular(file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (!ModeBits.Allows(caller, st, ModeBits.Write) && caller.Uid != st.Uid) // owner override, as for Read
                return FsStatus.AccessDenied;
            using ChangeGrant grant = await _gate.BeginAsync(st.Ino, ChangeKind.Write, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Refused(grant);
            using SafeFd output = Reopen(fd, LibC.O_WRONLY);
            if (output.IsInvalid)
                return Fail("open");
            return WriteAll(output, offset, data.Span, stability);
        }
    }

    public async ValueTask<FsResult<(FileHandle Handle, bool Created)>> CreateFileAsync(Caller caller, FileHandle directory, FileName name, uint mode, bool exclusive, ChangeContext context, CancellationToken cancellationToken)
    {
        if (_options.ReadOnly)
            return FsStatus.ReadOnly;
        FsStatus status = ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if ((status = Names.Check(name)) != FsStatus.Ok)
                return status;
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Execute))
                return FsStatus.AccessDenied;

            // An existing file is opened, not created, unless the create is exclusive: no change, so no gate.
            FsResult<FileHandle> existing = OpenExisting(dir, name, exclusive);
            if (existing.Status != FsStatus.NotFound)
                return existing.IsOk ? (existing.Value, false) : existing.Status;

            if (!ModeBits.Allows(caller, dirStat, ModeBits.Write | ModeBits.Execute))
                return FsStatus.AccessDenied;
            using ChangeGrant grant = await _gate.BeginAsync(dirStat.Ino, ChangeKind.Create, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Refused(grant);
            using SafeFd created = LibC.openat(dir, name, LibC.O_RDONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW | LibC.O_NOCTTY | LibC.O_CLOEXEC, 0);
            if (created.IsInvalid)
            {
                int errno = LibC.LastErrno;
                if (errno == Errno.EEXIST && !exclusive) // lost a race with another creator: open theirs
                {
                    existing = OpenExisting(dir, name, exclusive: false);
                    return existing.IsOk ? (existing.Value, false) : existing.Status;
                }
                return Fail(nameof(LibC.openat), errno);
            }
            FsResult<FileHandle> handle = FinishCreate(dir, name, created, caller, dirStat, mode);
            return handle.IsOk ? (handle.Value, true) : handle.Status;
        }
    }

    public async ValueTask<FsResult<FileHandle>> CreateDirectoryAsync(Caller caller, FileHandle directory, FileName name, uint mode, ChangeContext context, CancellationToken cancellationToken)
    {
        FsStatus status = PrepareNewEntry(caller, directory, name, out SafeFd dir, out Statx dirStat);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            using ChangeGrant grant = await _gate.BeginAsync(dirStat.Ino, ChangeKind.Create, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Refused(grant);
            if (LibC.mkdirat(dir, name, 0b111_000_000) != 0) // 0700: owner-only until chowned and chmodded below
                return Fail(nameof(LibC.mkdirat));
            using SafeFd created = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
            if (created.IsInvalid)
                return Fail(nameof(LibC.openat));
            return FinishCreate(dir, name, created, caller, dirStat, mode);
        }
    }

    public async ValueTask<FsResult<FileHandle>> CreateSymlinkAsync(Caller caller, FileHandle directory, FileName name, ReadOnlyMemory<byte> target, ChangeContext context, CancellationToken cancellationToken)
    {
        if (_options.ReadOnly)
            return FsStatus.ReadOnly;
        FsStatus status = ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat);
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
            using ChangeGrant grant = await _gate.BeginAsync(dirStat.Ino, ChangeKind.Create, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Refused(grant);
            if (LibC.symlinkat(target.Span, dir, name) != 0)
                return Fail(nameof(LibC.symlinkat));
            using SafeFd created = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
            if (created.IsInvalid)
                return Fail(nameof(LibC.openat));
            return FinishCreate(dir, name, created, caller, dirStat, mode: null);
        }
    }

    public async ValueTask<FsResult<FileHandle>> CreateNodeAsync(Caller caller, FileHandle directory, FileName name, FileType type, uint mode, uint major, uint minor, ChangeContext context, CancellationToken cancellationToken)
    {
        if (_options.ReadOnly)
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
        FsStatus status = ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat);
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
            using ChangeGrant grant = await _gate.BeginAsync(dirStat.Ino, ChangeKind.Create, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Refused(grant);
            if (LibC.mknodat(dir, name, format | (mode & 0xFFF), LibC.MakeDev(major, minor)) != 0)
                return Fail(nameof(LibC.mknodat));
            using SafeFd created = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
            if (created.IsInvalid)
                return Fail(nameof(LibC.openat));
            return FinishCreate(dir, name, created, caller, dirStat, mode: mode & 0xFFF);
        }
    }

    public async ValueTask<FsResult<FileHandle>> LinkAsync(Caller caller, FileHandle file, FileHandle directory, FileName name, ChangeContext context, CancellationToken cancellationToken)
    {
        if (_options.ReadOnly)
            return FsStatus.ReadOnly;
        // Only a file with a name in the export gains another: one reached through its pin alone (unlinked, or its names
        // left the export) is NotFound, as link(2) refuses a file with no links (ENOENT).
        FsStatus status = ResolveLinked(file, out SafeFd source, out Statx sourceStat);
        if (status == FsStatus.Stale && _pins.Duplicate(file) is { } pinned)
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
            status = ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat);
            if (status != FsStatus.Ok)
                return status;
            using (dir)
            {
                if ((status = Names.Check(name)) != FsStatus.Ok)
                    return status;
                if (!ModeBits.Allows(caller, dirStat, ModeBits.Write | ModeBits.Execute))
                    return FsStatus.AccessDenied;
                using ChangeGrant grant = await _gate.BeginAsync(sourceStat.Ino, ChangeKind.Link, context, cancellationToken).ConfigureAwait(false);
                if (!grant.CanProceed)
                    return Refused(grant);
                // AT_EMPTY_PATH links the fd's inode itself (needs CAP_DAC_READ_SEARCH, which we have).
                if (LibC.linkat(source, dir, name, LibC.AT_EMPTY_PATH) != 0)
                    return Fail(nameof(LibC.linkat));
                return MakeHandle(source);
            }
        }
    }

    public async ValueTask<FsStatus> RemoveAsync(Caller caller, FileHandle directory, FileName name, ChangeContext context, CancellationToken cancellationToken)
    {
        FsStatus status = PrepareNewEntry(caller, directory, name, out SafeFd dir, out Statx dirStat);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if (StatAt(dir, name, out Statx victim) != 0)
                return Fail(nameof(LibC.statx));
            if (!ModeBits.MayDeleteFromSticky(caller, dirStat, victim))
                return FsStatus.NotPermitted;
            using ChangeGrant grant = await _gate.BeginAsync(victim.Ino, ChangeKind.Unlink, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return Refused(grant);
            if (LibC.unlinkat(dir, name, victim.IsDirectory ? LibC.AT_REMOVEDIR : 0) != 0)
                return Fail(nameof(LibC.unlinkat));
            return FsStatus.Ok;
        }
    }

    public async ValueTask<FsStatus> RenameAsync(Caller caller, FileHandle fromDirectory, FileName fromName, FileHandle toDirectory, FileName toName, ChangeContext context, CancellationToken cancellationToken)
    {
        if (_options.ReadOnly)
            return FsStatus.ReadOnly;
        FsStatus status = ResolveDirectory(fromDirectory, forLookup: false, out SafeFd from, out Statx fromStat);
        if (status != FsStatus.Ok)
            return status;
        using (from)
        {
            status = ResolveDirectory(toDirectory, forLookup: false, out SafeFd to, out Statx toStat);
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
                    return Fail(nameof(LibC.statx));
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
                    return Fail(nameof(LibC.statx));
                }

                using ChangeGrant grant = await _gate.BeginAsync(source.Ino, ChangeKind.Rename, context, cancellationToken).ConfigureAwait(false);
                if (!grant.CanProceed)
                    return Refused(grant);
                using ChangeGrant replaced = replaces
                    ? await _gate.BeginAsync(target.Ino, ChangeKind.Unlink, context, cancellationToken).ConfigureAwait(false)
                    : ChangeGrant.Proceed;
                if (!replaced.CanProceed)
                    return Refused(replaced);
                if (LibC.renameat(from, fromName, to, toName) != 0)
                    return Fail(nameof(LibC.renameat));
                return FsStatus.Ok;
            }
        }
    }

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
            if ((status = ApplySetAttributes(fd, caller, st, changes)) != FsStatus.Ok)
                return status;
            if (Stat(fd, out st) != 0)
                return Fail(nameof(LibC.statx));
            return Attributes.From(st);
        }
    }

    // ---------------------------------------------------------------- handles and resolution

    /// <summary>
    /// Opens (O_PATH) the file a handle names and stats it. BadHandle if this export did not sign it; Stale if the file
    /// is gone or has left the export, unless it is pinned and unlinked (<see cref="ResolvePinned"/>). On Ok the caller
    /// owns <paramref name="fd"/>.
    /// </summary>
    private FsStatus Resolve(FileHandle handle, out SafeFd fd, out Statx st)
    {
        FsStatus status = ResolveLinked(handle, out fd, out st);
        if (status == FsStatus.Stale && ResolvePinned(handle, out fd, out st))
            return FsStatus.Ok;
        return status;
    }

    /// <summary>
    /// A pinned file that no longer resolves inside the export, through the pin's descriptor, until the last pin goes:
    /// its last name in the export was removed (whether or not links to it remain elsewhere on the filesystem, which
    /// the server cannot tell from a move out of the export). An open keeps the file it opened, as an open descriptor
    /// does on POSIX and as knfsd does; only regular files are pinned, so nothing here reaches a directory outside.
    /// </summary>
    private bool ResolvePinned(FileHandle handle, out SafeFd fd, out Statx st)
    {
        fd = null!;
        st = default;
        if (_pins.Duplicate(handle) is not { } copy)
            return false;
        if (Stat(copy, out st) != 0)
        {
            copy.Dispose();
            return false;
        }
        fd = copy;
        return true;
    }

    /// <summary>Resolves a handle to a linked file inside the export (the cache first, then open_by_handle_at).</summary>
    private unsafe FsStatus ResolveLinked(FileHandle handle, out SafeFd fd, out Statx st)
    {
        fd = null!;
        st = default;
        if (TryResolveCached(handle, out fd, out st, out FsStatus cachedStatus))
            return cachedStatus;
        ReadOnlySpan<byte> bytes = handle.Span;
        if (!_signer.TryVerify(bytes, out int type, out Range range))
        {
            Log.ForgedHandle(_logger, bytes.Length);
            return FsStatus.BadHandle;
        }
        ReadOnlySpan<byte> kernelHandle = bytes[range];
        byte* buffer = stackalloc byte[sizeof(FileHandleHeader) + kernelHandle.Length];
        var header = (FileHandleHeader*)buffer;
        header->HandleBytes = (uint)kernelHandle.Length;
        header->HandleType = type;
        kernelHandle.CopyTo(new Span<byte>(buffer + sizeof(FileHandleHeader), kernelHandle.Length));

        SafeFd opened = LibC.open_by_handle_at(_root, header, LibC.O_PATH | LibC.O_CLOEXEC);
        if (opened.IsInvalid)
        {
            int errno = LibC.LastErrno;
            opened.Dispose();
            // ESTALE: the inode was freed (or reused: the generation differs). ENOENT/EINVAL: nothing decodes there.
            return errno is Errno.ESTALE or Errno.ENOENT or Errno.EINVAL ? FsStatus.Stale : Fail(nameof(LibC.open_by_handle_at), errno);
        }
        if (Stat(opened, out st) != 0)
        {
            int errno = LibC.LastErrno;
            opened.Dispose();
            return Fail(nameof(LibC.statx), errno);
        }
        if (st.NumLinks == 0 || !IsInsideExport(opened, st))
        {
            opened.Dispose();
            return FsStatus.Stale; // deleted (but still open somewhere), or moved out of the export
        }
        Remember(handle, opened);
        fd = opened;
        return FsStatus.Ok;
    }

    /// <summary>Resolves from the cache of verified handles. False when the handle is not cached (or due for a re-check).</summary>
    private bool TryResolveCached(FileHandle handle, out SafeFd fd, out Statx st, out FsStatus status)
    {
        fd = null!;
        st = default;
        status = FsStatus.Ok;
        if (!TryGetFresh(handle, out var entry))
            return false;
        SafeFd copy = LibC.DuplicateFd(entry.Fd, LibC.F_DUPFD_CLOEXEC, 0);
        if (copy.IsInvalid)
        {
            copy.Dispose();
            Forget(handle, entry); // closed under us by an eviction: resolve the slow way
            return false;
        }
        if (Stat(copy, out st) != 0)
        {
            copy.Dispose();
            Forget(handle, entry);
            return false;
        }
        if (st.NumLinks == 0)
        {
            copy.Dispose();
            Forget(handle, entry);
            status = FsStatus.Stale;
            return true;
        }
        fd = copy;
        return true;
    }

    /// <summary>A cached verification still inside its <see cref="ExportCheckInterval"/>; a stale one is dropped.</summary>
    private bool TryGetFresh(FileHandle handle, out ResolvedHandle entry)
    {
        if (!_resolved.TryGetValue(handle, out entry!))
            return false;
        if (Time.GetElapsedTime(entry.CheckedAt) <= ExportCheckInterval)
            return true;
        Forget(handle, entry);
        return false;
    }

    /// <summary>
    /// Read bits, the owner (knfsd's owner override: a file created 0444 is still read by its creator), or execute bits
    /// (a client reads a program to run it: knfsd's MAY_READ_IF_EXEC).
    /// </summary>
    private static bool MayRead(Caller caller, in Statx st) =>
        ModeBits.Allows(caller, st, ModeBits.Read) || caller.Uid == st.Uid || ModeBits.Allows(caller, st, ModeBits.Execute);

    private void Remember(FileHandle handle, SafeFd opened)
    {
        if (_resolved.Count >= MaxResolvedHandles)
        {
            foreach (var (key, old) in _resolved)
                Forget(key, old);
        }
        SafeFd copy = LibC.DuplicateFd(opened, LibC.F_DUPFD_CLOEXEC, 0);
        if (copy.IsInvalid)
        {
            copy.Dispose();
            return;
        }
        var entry = new ResolvedHandle(copy, Time.GetTimestamp());
        if (!_resolved.TryAdd(handle, entry))
            copy.Dispose();
    }

    /// <summary>
    /// Drops the cached descriptors of a handle whose last pin went: if its file was unlinked, nothing of ours may keep
    /// its inode (and its blocks) alive any longer.
    /// </summary>
    private void ForgetCached(FileHandle handle)
    {
        if (_resolved.TryGetValue(handle, out var entry))
            Forget(handle, entry);
    }

    private void Forget(FileHandle handle, ResolvedHandle entry)
    {
        if (_resolved.TryRemove(new KeyValuePair<FileHandle, ResolvedHandle>(handle, entry)))
            entry.Dispose(); // SafeHandle keeps a descriptor open until a call using it returns
    }

    /// <summary>
    /// What every new directory entry needs first: a writable export, the directory resolved, a valid name, and write
    /// and search permission on the directory. On success the caller owns (and disposes) <paramref name="dir"/>.
    /// </summary>
    private FsStatus PrepareNewEntry(Caller caller, FileHandle directory, FileName name, out SafeFd dir, out Statx dirStat)
    {
        dir = null!;
        dirStat = default;
        if (_options.ReadOnly)
            return FsStatus.ReadOnly;
        FsStatus status = ResolveDirectory(directory, forLookup: false, out dir, out dirStat);
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

    private FsStatus ResolveDirectory(FileHandle handle, bool forLookup, out SafeFd fd, out Statx st)
    {
        FsStatus status = Resolve(handle, out fd, out st);
        if (status != FsStatus.Ok)
            return status;
        if (st.IsDirectory)
            return FsStatus.Ok;
        status = forLookup && st.IsSymlink ? FsStatus.Symlink : FsStatus.NotDirectory;
        fd.Dispose();
        fd = null!;
        return status;
    }

    private FsStatus ResolveRegular(FileHandle handle, out SafeFd fd, out Statx st)
    {
        FsStatus status = Resolve(handle, out fd, out st);
        if (status != FsStatus.Ok)
            return status;
        if (st.IsRegular)
            return FsStatus.Ok;
        status = st.IsDirectory ? FsStatus.IsDirectory : FsStatus.WrongType;
        fd.Dispose();
        fd = null!;
        return status;
    }

    private bool IsInsideExport(SafeFd fd, in Statx st)
    {
        string? path = ReadProcLink(fd);
        if (path is null)
            return false;
        if (ExportOptions.IsSameOrInside(path, _rootPath))
            return true;
        // A disconnected non-directory (see the class remarks): the kernel could not say where it is.
        if (path == "/" && !st.IsDirectory)
            return true;
        Log.OutsideExport(_logger, st.Ino, path);
        return false;
    }

    private FsResult<FileHandle> MakeHandle(SafeFd fd)
    {
        if (!TryGetKernelHandle(fd, out int type, out byte[] kernelHandle, out int mountId, out int errno))
            return Fail(nameof(LibC.name_to_handle_at), errno);
        if (mountId != _rootMountId)
            return FsStatus.CrossDevice; // a mount point inside the export: its handles would not decode on our root
        return _signer.Sign(type, kernelHandle);
    }

    private static unsafe bool TryGetKernelHandle(SafeFd fd, out int type, out byte[] kernelHandle, out int mountId, out int errno)
    {
        byte* buffer = stackalloc byte[sizeof(FileHandleHeader) + HandleSigner.MaxKernelHandleSize];
        var header = (FileHandleHeader*)buffer;
        header->HandleBytes = HandleSigner.MaxKernelHandleSize;
        if (LibC.name_to_handle_at(fd, "", header, out mountId, LibC.AT_EMPTY_PATH) != 0)
        {
            errno = LibC.LastErrno;
            type = 0;
            kernelHandle = [];
            return false;
        }
        errno = 0;
        type = header->HandleType;
        kernelHandle = new ReadOnlySpan<byte>(buffer + sizeof(FileHandleHeader), (int)header->HandleBytes).ToArray();
        return true;
    }

    // ---------------------------------------------------------------- helpers

    private FsResult<FileHandle> OpenExisting(SafeFd dir, FileName name, bool exclusive)
    {
        if (StatAt(dir, name, out Statx existing) != 0)
            return Fail(nameof(LibC.statx));
        if (exclusive)
            return FsStatus.Exists;
        if (!existing.IsRegular)
            return existing.IsDirectory ? FsStatus.IsDirectory : existing.IsSymlink ? FsStatus.Symlink : FsStatus.WrongType;
        using SafeFd fd = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
        if (fd.IsInvalid)
            return Fail(nameof(LibC.openat));
        return MakeHandle(fd);
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
            result = Fail(nameof(LibC.fchownat));
        }
        else if (mode is uint asked)
        {
            uint effective = asked & 0xFFF;
            if (!caller.IsRoot && !caller.InGroup(gid))
                effective &= ~LibC.S_ISGID; // as the kernel's inode_init_owner / setattr_prepare
            if (inheritGroup && Stat(created, out Statx st) == 0 && st.IsDirectory)
                effective |= LibC.S_ISGID; // subdirectories of a setgid directory stay setgid
            if (LibC.fchmodat(LibC.AT_FDCWD, created.ProcPath, effective, 0) != 0)
                result = Fail(nameof(LibC.fchmodat));
        }
        if (result.Status == FsStatus.Ok)
            result = MakeHandle(created);
        if (!result.IsOk)
            _ = LibC.unlinkat(dir, name, Stat(created, out Statx made) == 0 && made.IsDirectory ? LibC.AT_REMOVEDIR : 0);
        return result;
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
            using SafeFd output = Reopen(fd, LibC.O_WRONLY);
            if (output.IsInvalid)
                return Fail("open");
            if (LibC.ftruncate(output, (long)size) != 0)
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

    private unsafe DirectoryEntry? ReadEntry(SafeFd dir, byte* namePointer, ReadOnlySpan<byte> name, ulong cookie, out FsStatus status)
    {
        status = FsStatus.Ok;
        using SafeFd child = LibC.openat(dir, namePointer, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
        if (child.IsInvalid)
        {
            int errno = LibC.LastErrno;
            if (errno == Errno.ENOENT)
                return null; // removed since getdents64 saw it
            status = Fail(nameof(LibC.openat), errno);
            return null;
        }
        FsResult<FileHandle> handle = MakeHandle(child);
        if (handle.Status == FsStatus.CrossDevice)
        {
            Log.SkippedMountPoint(_logger, FileName.FromBytes(name).ToString());
            return null;
        }
        if (!handle.IsOk)
        {
            status = handle.Status;
            return null;
        }
        if (Stat(child, out Statx st) != 0)
        {
            status = Fail(nameof(LibC.statx));
            return null;
        }
        return new DirectoryEntry(FileName.FromBytes(name), cookie, handle.Value, Attributes.From(st)); // the bytes as stored, never decoded
    }

    private unsafe FsResult<(int Count, bool EndOfFile)> ReadAll(SafeFd data, long offset, Span<byte> destination)
    {
        int total = 0;
        fixed (byte* start = destination)
        {
            while (total < destination.Length)
            {
                nint read = LibC.pread(data, start + total, (nuint)(destination.Length - total), offset + total);
                if (read < 0)
                {
                    if (LibC.LastErrno == Errno.EINTR)
                        continue;
                    return Fail(nameof(LibC.pread));
                }
                if (read == 0)
                    return (total, true);
                total += (int)read;
            }
        }
        if (Stat(data, out Statx st) != 0)
            return Fail(nameof(LibC.statx));
        return (total, (ulong)offset + (ulong)total >= st.Size);
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
                    return Fail(nameof(LibC.pwrite));
                }
                total += (int)written;
            }
        }
        switch (stability)
        {
            case WriteStability.FileSync when LibC.fsync(output) != 0:
                return Fail(nameof(LibC.fsync));
            case WriteStability.DataSync when LibC.fdatasync(output) != 0:
                return Fail(nameof(LibC.fdatasync));
            default:
                return (total, stability);
        }
    }

    /// <summary>Opens the file behind an O_PATH fd for I/O, through its /proc magic link (same inode, no path walk).</summary>
    private static SafeFd Reopen(SafeFd fd, int flags) =>
        LibC.openat(LibC.AT_FDCWD, fd.ProcPath, flags | LibC.O_NOCTTY | LibC.O_CLOEXEC, 0);

    private static int Stat(SafeFd fd, out Statx st) =>
        LibC.statx(fd, "", LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW, Attributes.StatxMask, out st);

    private static int StatAt(SafeFd dir, in FileName name, out Statx st) =>
        LibC.statx(dir, name, LibC.AT_SYMLINK_NOFOLLOW, Attributes.StatxMask, out st);

    private static unsafe string? ReadProcLink(SafeFd fd)
    {
        const int Size = 4096 + 16; // PATH_MAX, plus room for " (deleted)"
        byte* buffer = stackalloc byte[Size];
        nint length = LibC.readlink(fd.ProcPath, buffer, Size);
        return length is < 0 or >= Size ? null : Encoding.UTF8.GetString(buffer, (int)length);
    }

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

    /// <summary>The path of a directory with every symlink resolved, as the kernel sees it.</summary>
    private static string? CanonicalPath(string path)
    {
        using SafeFd fd = LibC.openat(LibC.AT_FDCWD, path, LibC.O_PATH | LibC.O_CLOEXEC, 0);
        return fd.IsInvalid ? null : ReadProcLink(fd);
    }

    private static FsStatus Refused(in ChangeGrant grant) => grant.Refusal switch
    {
        ChangeRefusal.LayoutBusy => FsStatus.LayoutBusy,
        _ => FsStatus.Delay,
    };

    private FsStatus Fail(string operation) => Fail(operation, LibC.LastErrno);

    /// <summary>Maps errno through <see cref="FsErrors.ToFsStatus"/>; an errno it does not name is logged, once, here.</summary>
    private FsStatus Fail(string operation, int errno)
    {
        FsStatus status = FsErrors.ToFsStatus(errno);
        if (status == FsStatus.Io)
            Log.UnexpectedErrno(_logger, operation, errno);
        return status;
    }
}
