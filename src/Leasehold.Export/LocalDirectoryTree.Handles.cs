using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Leasehold.Export.Native;
using static Leasehold.Export.Local.Descriptors;
using Microsoft.Extensions.Logging;

namespace Leasehold.Export;

// LocalDirectoryTree, handles: from a signed handle to a verified descriptor (the cache, pinned files, the inside-the-export check) and back.
public sealed partial class LocalDirectoryTree
{
    /// <summary>
    /// Opens (O_PATH) the file a handle names and stats it. BadHandle if this export did not sign it; Stale if the file
    /// is gone or has left the export, unless it is pinned and unlinked (<see cref="ResolvePinned"/>). On Ok the caller
    /// owns <paramref name="fd"/> and disposes it; it is usually a borrow of a cached descriptor (<see cref="SafeFd.TryBorrow"/>),
    /// so it must not be used to change the open file description (O_PATH descriptors have nothing to change).
    /// </summary>
    internal FsStatus Resolve(FileHandle handle, out SafeFd fd, out Statx st) => Resolve(handle, out fd, out st, out _);

    /// <summary>
    /// <see cref="Resolve(FileHandle, out SafeFd, out Statx)"/>, and when the file was last found inside the export
    /// (a <see cref="Time"/> timestamp; <see cref="NeverChecked"/> for a file reached through its pin alone, never a directory).
    /// </summary>
    internal FsStatus Resolve(FileHandle handle, out SafeFd fd, out Statx st, out long checkedAt)
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

    /// <summary>The check time of a file not known to be inside the export (reached through its pin alone): nothing found from it is cached.</summary>
    private const long NeverChecked = long.MinValue;

    /// <summary>Resolves a handle to a linked file inside the export (the cache first, then open_by_handle_at).</summary>
    private unsafe FsStatus ResolveLinked(FileHandle handle, out SafeFd fd, out Statx st, out long checkedAt)
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
    private static bool TryStatCached(ResolvedHandle entry, out Statx st)
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
    private void RememberOpened(FileHandle handle, SafeFd fd, long checkedAt)
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
    private void ForgetUnlinked(ulong ino)
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

    internal FsStatus ResolveDirectory(FileHandle handle, bool forLookup, out SafeFd fd, out Statx st) =>
        ResolveDirectory(handle, forLookup, out fd, out st, out _);

    /// <summary>A directory, and when it was last found inside the export (<see cref="Resolve(FileHandle, out SafeFd, out Statx, out long)"/>).</summary>
    internal FsStatus ResolveDirectory(FileHandle handle, bool forLookup, out SafeFd fd, out Statx st, out long checkedAt)
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

    internal FsStatus ResolveRegular(FileHandle handle, out SafeFd fd, out Statx st)
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

    private FsResult<FileHandle> MakeHandle(SafeFd fd)
    {
        if (!TryGetKernelHandle(fd, out int type, out byte[] kernelHandle, out int mountId, out int errno))
            return Fail(nameof(LibC.name_to_handle_at), errno);
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
    private unsafe FsResult<FileHandle> MakeHandleAt(SafeFd dir, in FileName name)
    {
        byte* buffer = stackalloc byte[sizeof(FileHandleHeader) + HandleSigner.MaxKernelHandleSize];
        var header = (FileHandleHeader*)buffer;
        header->HandleBytes = HandleSigner.MaxKernelHandleSize;
        if (LibC.name_to_handle_at(dir, name, header, out int mountId, 0) != 0)
            return Fail(nameof(LibC.name_to_handle_at));
        if (mountId != _rootMountId)
            return FsStatus.CrossDevice;
        return _signer.Sign(header->HandleType, new ReadOnlySpan<byte>(buffer + sizeof(FileHandleHeader), (int)header->HandleBytes));
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
}
