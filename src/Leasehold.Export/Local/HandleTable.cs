using Leasehold.Export.Native;
using Microsoft.Extensions.Logging;
using static Leasehold.Export.Local.Descriptors;

namespace Leasehold.Export.Local;

/// <summary>
/// The export's handles: from a signed handle to a verified O_PATH descriptor and back. Signs and verifies
/// (<see cref="HandleSigner"/>), opens with open_by_handle_at(2) on the export root, checks that the file is still
/// inside the export, caches what it verified (<see cref="ResolvedHandle"/>, swept by <see cref="SweepStale"/>), keeps
/// pinned files reachable (<see cref="Pin"/>), and makes handles from descriptors and names (name_to_handle_at(2)).
/// </summary>
/// <remarks>
/// <para>Every file the export reaches comes through here: a handle this export signed, opened on the export root and
/// checked to be inside the export, or one component opened with O_NOFOLLOW relative to a directory that was
/// (<see cref="RememberOpened"/>).</para>
/// <para>Safe for concurrent use: the cache is a concurrent dictionary and <see cref="PinnedFiles"/> has its own lock;
/// an entry dropped under a caller stays open until the caller's borrow of it is disposed.</para>
/// <para>Limitation: a regular file whose dentry the kernel has evicted comes back from open_by_handle_at
/// "disconnected" (its /proc path reads "/"), so where it lives cannot be checked; it is accepted on the strength of the
/// signature (it was inside when its handle was issued), as knfsd does with no_subtree_check. Directories are always
/// reconnected by the kernel and always checked.</para>
/// </remarks>
internal sealed class HandleTable : IDisposable
{
    private readonly HandleSigner _signer;
    private readonly Failures _failures;
    private readonly ILogger _logger;

    // O_RDONLY rather than O_PATH: on current kernels open_by_handle_at refuses an O_PATH mount fd (EBADF).
    private readonly SafeFd _root;

    // Verified handles and an O_PATH descriptor for each: a hit costs a statx on a borrow of the cached descriptor
    // (SafeFd.TryBorrow: no dup, no close) instead of HMAC, open_by_handle_at, a /proc readlink and a close. LOOKUP and
    // the creating calls put the descriptor they opened by name here too. "Still inside the export" is checked again
    // once an entry is older than ExportCheckInterval, so a file moved out of the export is refused at most that long
    // after the move; a deleted file is refused at once (its link count is 0), and its entry is dropped when the export
    // removes its last name or its last pin goes. Bounded: the cache is emptied when it fills.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<FileHandle, ResolvedHandle> _resolved = new(FileHandleComparer.Instance);
    private const int MaxResolvedHandles = 8192;

    // Files kept reachable after their last name is removed (open files); see Pin and ResolvePinned.
    private readonly PinnedFiles _pins;

    // The export's path as /proc/self/fd shows it. _root follows the directory when it (or a parent) is renamed, and
    // "inside the export" means under that directory wherever it is now, so this is updated then (RootMovedTo).
    private string _rootPath;
    private readonly int _rootMountId;

    /// <param name="root">The export root, O_RDONLY; the table owns it from now on and closes it in <see cref="Dispose"/>.</param>
    /// <param name="rootPath">The root's path as /proc/self/fd shows it.</param>
    /// <param name="rootIno">The root's inode number.</param>
    /// <param name="rootMountId">The root's mount id (name_to_handle_at): a handle from another mount would not decode on the root.</param>
    /// <param name="signer">Signs and verifies this export's handles (<see cref="HandleSigner.ForExport"/>).</param>
    /// <param name="failures">Maps errno to a status.</param>
    /// <param name="logger">Export log events (2xxx).</param>
    public HandleTable(SafeFd root, string rootPath, ulong rootIno, int rootMountId, HandleSigner signer, Failures failures, ILogger logger)
    {
        _root = root;
        _rootPath = rootPath;
        RootIno = rootIno;
        _rootMountId = rootMountId;
        _signer = signer;
        _failures = failures;
        _logger = logger;
        _pins = new PinnedFiles(LastPinReleased);
    }

    /// <summary>The export root's inode number (LOOKUPP answers NotFound there: the root has no parent in the export).</summary>
    public ulong RootIno { get; }

    /// <summary>How long a verified handle is trusted to still be inside the export. Tests set it to zero.</summary>
    public TimeSpan ExportCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The clock for <see cref="ExportCheckInterval"/>.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>How often <see cref="SweepStale"/> runs: a deleted file's space is given back at most this long after its entry went stale.</summary>
    public static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(5);

    /// <summary>How many files are pinned (<see cref="Pin"/>), each holding one descriptor.</summary>
    public int PinnedCount => _pins.Count;

    /// <summary>Closes every cached descriptor, every pin's descriptor, then the root.</summary>
    public void Dispose()
    {
        foreach (var entry in _resolved.Values)
            entry.Dispose();
        _resolved.Clear();
        _pins.Dispose();
        _root.Dispose();
    }

    /// <summary>
    /// Drops every cached verification older than <see cref="ExportCheckInterval"/>, closing its descriptors; returns
    /// how many. A lookup drops a stale entry too, but only when its handle is used again: without the sweep a file a
    /// local process deleted would stay allocated (its inode held by our O_PATH descriptor) until then. Runs every
    /// <see cref="SweepInterval"/>.
    /// </summary>
    public int SweepStale()
    {
        int dropped = 0;
        foreach (var (handle, entry) in _resolved)
        {
            if (Time.GetElapsedTime(entry.CheckedAt) > ExportCheckInterval)
            {
                Forget(handle, entry);
                dropped++;
            }
        }
        return dropped;
    }

    /// <summary>Whether the cache of verified handles holds <paramref name="handle"/> (fresh or not), for tests.</summary>
    public bool IsCached(FileHandle handle) => _resolved.ContainsKey(handle);

    /// <summary><see cref="IExportedTree.Pin"/>: keeps the file reachable through its handle until the pin is disposed.</summary>
    public FsResult<FilePin> Pin(FileHandle handle)
    {
        FsStatus status = Resolve(handle, out SafeFd fd, out _);
        if (status != FsStatus.Ok)
            return status;
        return _pins.Add(handle, fd);
    }

    /// <summary><see cref="IExportedTree.TryGetCachedRegularFileId"/>: from the cache alone, no system call.</summary>
    public bool TryGetCachedRegularFileId(FileHandle handle, out ulong fileId)
    {
        if (_resolved.TryGetValue(handle, out var entry) && entry.IsRegular)
        {
            fileId = entry.Ino;
            return true;
        }
        fileId = 0;
        return false;
    }

    /// <summary><see cref="IExportedTree.Accept"/>: a handle as received, checked to be one of ours and still valid.</summary>
    public FsResult<FileHandle> Accept(ReadOnlySpan<byte> received)
    {
        if (received.Length is 0 or > FileHandle.MaxSize)
            return FsStatus.BadHandle;
        // Fast path: a handle in the cache is taken as the cached instance (no copy) and checked with one statx.
        if (_resolved.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(received, out FileHandle known, out _)
            && TryGetFresh(known, out var entry) && TryStatCached(entry, out Statx cached) && cached.NumLinks > 0)
            return known;
        var handle = new FileHandle(received.ToArray());
        FsStatus status = Resolve(handle, out SafeFd fd, out _);
        if (status != FsStatus.Ok)
            return status;
        fd.Dispose();
        return handle;
    }

    /// <summary>
    /// Opens (O_PATH) the file a handle names and stats it. BadHandle if this export did not sign it; Stale if the file
    /// is gone or has left the export, unless it is pinned and unlinked (<see cref="ResolvePinned"/>). On Ok the caller
    /// owns <paramref name="fd"/> and disposes it; it is usually a borrow of a cached descriptor (<see cref="SafeFd.TryBorrow"/>),
    /// so it must not be used to change the open file description (O_PATH descriptors have nothing to change).
    /// </summary>
    public FsStatus Resolve(FileHandle handle, out SafeFd fd, out Statx st) => Resolve(handle, out fd, out st, out _);

    /// <summary>
    /// <see cref="Resolve(FileHandle, out SafeFd, out Statx)"/>, and when the file was last found inside the export
    /// (a <see cref="Time"/> timestamp; <see cref="NeverChecked"/> for a file reached through its pin alone, never a directory).
    /// </summary>
    public FsStatus Resolve(FileHandle handle, out SafeFd fd, out Statx st, out long checkedAt)
    {
        FsStatus status = ResolveLinked(handle, out fd, out st, out checkedAt);
        if (status == FsStatus.Stale && ResolvePinned(handle, out fd, out st))
        {
            checkedAt = NeverChecked;
            return FsStatus.Ok;
        }
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
        if (_pins.Borrow(handle) is not { } copy)
            return false;
        if (Stat(copy, out st) != 0)
        {
            copy.Dispose();
            return false;
        }
        fd = copy;
        return true;
    }

    /// <summary>
    /// <see cref="IExportedTree.PathOf"/>: the file's /proc/self/fd link made relative to the export's root; null for a
    /// file no name inside the export reaches (its link ends in " (deleted)" or lies outside the root).
    /// </summary>
    public string? PathOf(FileHandle handle)
    {
        if (Resolve(handle, out var fd, out _) != FsStatus.Ok)
            return null;
        string? path;
        using (fd)
            path = ReadProcLink(fd);
        string root = RootMovedTo() ?? Volatile.Read(ref _rootPath);
        if (path is null || path.EndsWith(" (deleted)", StringComparison.Ordinal) || !ExportOptions.IsSameOrInside(path, root))
            return null;
        string relative = path[root.Length..];
        return relative.Length == 0 ? "/" : root == "/" ? path : relative;
    }

    /// <summary>The check time of a file not known to be inside the export (reached through its pin alone): nothing found from it is cached.</summary>
    public const long NeverChecked = long.MinValue;

    /// <summary>Resolves a handle to a linked file inside the export (the cache first, then open_by_handle_at).</summary>
    public unsafe FsStatus ResolveLinked(FileHandle handle, out SafeFd fd, out Statx st, out long checkedAt)
    {
        fd = null!;
        st = default;
        if (TryResolveCached(handle, out fd, out st, out checkedAt, out FsStatus cachedStatus))
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
            return errno is Errno.ESTALE or Errno.ENOENT or Errno.EINVAL ? FsStatus.Stale : _failures.Fail(nameof(LibC.open_by_handle_at), errno);
        }
        if (Stat(opened, out st) != 0)
        {
            int errno = LibC.LastErrno;
            opened.Dispose();
            return _failures.Fail(nameof(LibC.statx), errno);
        }
        if (st.NumLinks == 0 || !IsInsideExport(opened, st))
        {
            opened.Dispose();
            return FsStatus.Stale; // deleted (but still open somewhere), or moved out of the export
        }
        checkedAt = Time.GetTimestamp();
        // The cache keeps the descriptor; the caller borrows it (no dup, no close), unless another thread cached it first.
        SafeFd borrowed = SafeFd.TryBorrow(opened)!; // just opened: neither disposed nor invalid
        if (TryRemember(handle, opened, st.Ino, st.IsRegular, checkedAt))
        {
            fd = borrowed;
        }
        else
        {
            borrowed.Dispose();
            fd = opened;
        }
        return FsStatus.Ok;
    }

    /// <summary>Resolves from the cache of verified handles. False when the handle is not cached (or due for a re-check).</summary>
    /// <remarks>
    /// A hit lends the cached descriptor (<see cref="SafeFd.TryBorrow"/>): no dup and no close, and the borrow keeps the
    /// descriptor (and so the inode) open even if the entry is dropped from the cache while the caller still uses it.
    /// </remarks>
    private bool TryResolveCached(FileHandle handle, out SafeFd fd, out Statx st, out long checkedAt, out FsStatus status)
    {
        fd = null!;
        st = default;
        checkedAt = NeverChecked;
        status = FsStatus.Ok;
        if (!TryGetFresh(handle, out var entry))
            return false;
        if (SafeFd.TryBorrow(entry.Fd) is not { } copy)
            return false; // dropped from the cache (and disposed) under us: resolve the slow way
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
        checkedAt = entry.CheckedAt;
        return true;
    }

    /// <summary>
    /// statx on a cached entry's descriptor. False when it fails, or when another thread dropped the entry (and closed
    /// the descriptor) between the lookup and the call: SafeHandle refuses a closed handle with ObjectDisposedException,
    /// which here only means "not cached any more".
    /// </summary>
    public static bool TryStatCached(ResolvedHandle entry, out Statx st)
    {
        try
        {
            return Stat(entry.Fd, out st) == 0;
        }
        catch (ObjectDisposedException)
        {
            st = default;
            return false;
        }
    }

    /// <summary>A cached verification still inside its <see cref="ExportCheckInterval"/>; a stale one is dropped.</summary>
    public bool TryGetFresh(FileHandle handle, out ResolvedHandle entry)
    {
        if (!_resolved.TryGetValue(handle, out entry!))
            return false;
        if (Time.GetElapsedTime(entry.CheckedAt) <= ExportCheckInterval)
            return true;
        Forget(handle, entry);
        return false;
    }

    /// <summary>
    /// Caches <paramref name="fd"/> (an O_PATH descriptor of a file found inside the export at <paramref name="checkedAt"/>)
    /// as the verified descriptor of <paramref name="handle"/>. True: the cache owns it now. False (the handle is cached
    /// already): the caller still owns it.
    /// </summary>
    private bool TryRemember(FileHandle handle, SafeFd fd, ulong ino, bool isRegular, long checkedAt)
    {
        if (_resolved.Count >= MaxResolvedHandles)
        {
            foreach (var (key, old) in _resolved)
                Forget(key, old);
        }
        return _resolved.TryAdd(handle, new ResolvedHandle(fd, checkedAt, ino, isRegular));
    }

    /// <summary>
    /// Caches a descriptor the export opened by name relative to a verified directory (LOOKUP, a new file): one
    /// component opened with O_NOFOLLOW from inside the export is inside it, as of the directory's own check
    /// (<paramref name="checkedAt"/>), so the next call on the handle needs no open_by_handle_at. Takes ownership of
    /// <paramref name="fd"/> (disposed when it is not cached: already cached, or unlinked since it was opened).
    /// </summary>
    public void RememberOpened(FileHandle handle, SafeFd fd, long checkedAt)
    {
        if (checkedAt == NeverChecked || TryGetFresh(handle, out _) || Stat(fd, out Statx st) != 0 || st.NumLinks == 0
            || !TryRemember(handle, fd, st.Ino, st.IsRegular, checkedAt))
            fd.Dispose();
    }

    /// <summary>
    /// Called when the last pin of a handle went: if its file was unlinked meanwhile (link count 0 on the cached
    /// descriptor), the cached descriptors go too, since nothing of ours may keep an unlinked inode (and its blocks)
    /// alive once its last pin is gone. A file that is still linked keeps its verified O_PATH descriptor, so the next
    /// OPEN of it is a cache hit; its cached O_RDONLY reader is closed, as a CLOSE closes an open file.
    /// </summary>
    private void LastPinReleased(FileHandle handle)
    {
        if (!_resolved.TryGetValue(handle, out var entry))
            return;
        if (!TryStatCached(entry, out Statx st) || st.NumLinks == 0)
            Forget(handle, entry);
        else if (Volatile.Read(ref entry.Reader) is { } reader)
            Interlocked.CompareExchange(ref entry.Reader, null, reader)?.Dispose();
    }

    /// <summary>
    /// Drops every cached descriptor of <paramref name="ino"/> once it has no links left: called after the export itself
    /// removed a name (REMOVE, a RENAME that replaced a file), so a file removed after its last CLOSE is freed at once.
    /// A pinned file keeps its pin's own descriptor.
    /// </summary>
    public void ForgetUnlinked(ulong ino)
    {
        foreach (var (key, entry) in _resolved)
        {
            if (entry.Ino == ino && (!TryStatCached(entry, out Statx st) || st.NumLinks == 0))
                Forget(key, entry);
        }
    }

    private void Forget(FileHandle handle, ResolvedHandle entry)
    {
        if (_resolved.TryRemove(new KeyValuePair<FileHandle, ResolvedHandle>(handle, entry)))
            entry.Dispose(); // SafeHandle keeps a descriptor open until a call using it returns
    }

    public FsStatus ResolveDirectory(FileHandle handle, bool forLookup, out SafeFd fd, out Statx st) =>
        ResolveDirectory(handle, forLookup, out fd, out st, out _);

    /// <summary>A directory, and when it was last found inside the export (<see cref="Resolve(FileHandle, out SafeFd, out Statx, out long)"/>).</summary>
    public FsStatus ResolveDirectory(FileHandle handle, bool forLookup, out SafeFd fd, out Statx st, out long checkedAt)
    {
        FsStatus status = Resolve(handle, out fd, out st, out checkedAt);
        if (status != FsStatus.Ok)
            return status;
        if (st.IsDirectory)
            return FsStatus.Ok;
        status = forLookup && st.IsSymlink ? FsStatus.Symlink : FsStatus.NotDirectory;
        fd.Dispose();
        fd = null!;
        return status;
    }

    public FsStatus ResolveRegular(FileHandle handle, out SafeFd fd, out Statx st)
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
        if (ExportOptions.IsSameOrInside(path, Volatile.Read(ref _rootPath)))
            return true;
        // A disconnected non-directory (see the class remarks): the kernel could not say where it is.
        if (path == "/" && !st.IsDirectory)
            return true;
        if (RootMovedTo() is { } rootNow && ExportOptions.IsSameOrInside(path, rootNow))
            return true;
        Log.OutsideExport(_logger, st.Ino, path);
        return false;
    }

    /// <summary>
    /// The export directory's new path when it (or a directory above it) was renamed since <see cref="_rootPath"/> was
    /// read, which it then becomes (log 2008, once per move); null when it has not moved. Read after the file's own path:
    /// a file and the root moving at once give at worst a Stale, never a file outside the root's current path.
    /// </summary>
    private string? RootMovedTo()
    {
        string? now = ReadProcLink(_root);
        string before = Volatile.Read(ref _rootPath);
        if (now is null || now == before || now.EndsWith(" (deleted)", StringComparison.Ordinal))
            return null;
        if (Interlocked.CompareExchange(ref _rootPath, now, before) == before)
            Log.ExportMoved(_logger, before, now);
        return now;
    }

    public FsResult<FileHandle> MakeHandle(SafeFd fd)
    {
        if (!TryGetKernelHandle(fd, out int type, out byte[] kernelHandle, out int mountId, out int errno))
            return _failures.Fail(nameof(LibC.name_to_handle_at), errno);
        if (mountId != _rootMountId)
            return FsStatus.CrossDevice; // a mount point inside the export: its handles would not decode on our root
        return _signer.Sign(type, kernelHandle);
    }

    /// <summary>
    /// The handle of the entry <paramref name="name"/> in <paramref name="dir"/> (one component, checked by the caller),
    /// without opening it: flags 0, so a symlink is returned, not followed, as with an O_PATH | O_NOFOLLOW open; a mount
    /// point gives the mounted root's handle on another mount (CrossDevice, as <see cref="MakeHandle"/>); an automount
    /// point is not triggered (as by stat(2)).
    /// </summary>
    public unsafe FsResult<FileHandle> MakeHandleAt(SafeFd dir, in FileName name)
    {
        byte* buffer = stackalloc byte[sizeof(FileHandleHeader) + HandleSigner.MaxKernelHandleSize];
        var header = (FileHandleHeader*)buffer;
        header->HandleBytes = HandleSigner.MaxKernelHandleSize;
        if (LibC.name_to_handle_at(dir, name, header, out int mountId, 0) != 0)
            return _failures.Fail(nameof(LibC.name_to_handle_at));
        if (mountId != _rootMountId)
            return FsStatus.CrossDevice;
        return _signer.Sign(header->HandleType, new ReadOnlySpan<byte>(buffer + sizeof(FileHandleHeader), (int)header->HandleBytes));
    }

    public static unsafe bool TryGetKernelHandle(SafeFd fd, out int type, out byte[] kernelHandle, out int mountId, out int errno)
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

    /// <summary>
    /// Caches a borrow of <paramref name="created"/>, an O_PATH descriptor opened by name in a verified directory, as the
    /// verified descriptor of the handle made from it (<see cref="RememberOpened"/>), so the GETATTR that follows a
    /// create is a cache hit. The caller still disposes <paramref name="created"/>; the borrow keeps it open.
    /// </summary>
    public FsResult<FileHandle> RememberCreated(FsResult<FileHandle> handle, SafeFd created, long checkedAt)
    {
        if (handle.IsOk && SafeFd.TryBorrow(created) is { } borrowed)
            RememberOpened(handle.Value, borrowed, checkedAt);
        return handle;
    }

    /// <summary>The pin's own descriptor of <paramref name="handle"/> (a borrow the caller disposes); null when it is not pinned.</summary>
    public SafeFd? BorrowPinned(FileHandle handle) => _pins.Borrow(handle);

    /// <summary>Closes the cached O_RDONLY descriptors of the inode: a write lease is refused beside one of our own.</summary>
    public void DropReaders(ulong ino)
    {
        foreach (var entry in _resolved.Values)
        {
            if (entry.Ino == ino && Volatile.Read(ref entry.Reader) is { } reader)
                Interlocked.CompareExchange(ref entry.Reader, null, reader)?.Dispose();
        }
    }
}
