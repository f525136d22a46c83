using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Leasehold.Export.Native;
using Microsoft.Extensions.Logging;
using static Leasehold.Export.Local.Descriptors;

namespace Leasehold.Export.Local;

/// <summary>
/// Reading directories: LOOKUP and LOOKUPP (caching what they open, <see cref="HandleTable.RememberOpened"/>), READDIR
/// (getdents64, cookies from d_off) and READLINK.
/// </summary>
internal sealed class DirectoryReader(HandleTable handles, Failures failures, ILogger logger)
{
    /// <summary>
    /// getdents64 offsets become cookies by adding 3, so no cookie is 0, 1 or 2, which NFSv4 reserves (RFC 8881
    /// §18.23.3); d_off is a non-negative 63-bit value, so the sum never overflows.
    /// </summary>
    public const ulong CookieBias = 3;

    private const int DirectoryBufferSize = 32 * 1024;

    /// <remarks>
    /// The handle is made from the name (name_to_handle_at, one component, no symlink followed). When it is not cached
    /// yet, the child is opened (O_PATH, O_NOFOLLOW, relative to the verified directory: inside the export by
    /// construction), its handle made from that descriptor, and the descriptor cached, so the GETATTR or OPEN that
    /// follows is a cache hit; "inside" dates from the directory's own check.
    /// </remarks>
    public FsResult<FileHandle> Lookup(Caller caller, FileHandle directory, FileName name)
    {
        FsStatus status = handles.ResolveDirectory(directory, forLookup: true, out SafeFd dir, out Statx dirStat, out long checkedAt);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if ((status = Names.Check(name)) != FsStatus.Ok)
                return status;
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Execute))
                return FsStatus.AccessDenied;
            FsResult<FileHandle> named = handles.MakeHandleAt(dir, name);
            if (!named.IsOk || handles.TryGetFresh(named.Value, out _))
                return named;
            SafeFd child = LibC.openat(dir, name, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
            if (child.IsInvalid)
            {
                int errno = LibC.LastErrno;
                child.Dispose();
                return failures.Fail(nameof(LibC.openat), errno); // removed since its handle was made
            }
            FsResult<FileHandle> handle = handles.MakeHandle(child); // of what the name holds now, which is what is cached
            if (handle.IsOk)
                handles.RememberOpened(handle.Value, child, checkedAt);
            else
                child.Dispose();
            return handle;
        }
    }

    public FsResult<FileHandle> LookupParent(Caller caller, FileHandle directory)
    {
        FsStatus status = handles.ResolveDirectory(directory, forLookup: true, out SafeFd dir, out Statx dirStat, out long checkedAt);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if (dirStat.Ino == handles.RootIno)
                return FsStatus.NotFound; // the root has no parent in the export (one filesystem: the inode says it)
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Execute))
                return FsStatus.AccessDenied;
            SafeFd parent = LibC.openat(dir, "..", LibC.O_PATH | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
            if (parent.IsInvalid)
            {
                int errno = LibC.LastErrno;
                parent.Dispose();
                return failures.Fail(nameof(LibC.openat), errno);
            }
            // The parent of a directory inside the export that is not its root is inside it too: cache it.
            FsResult<FileHandle> handle = handles.MakeHandle(parent);
            if (handle.IsOk)
                handles.RememberOpened(handle.Value, parent, checkedAt);
            else
                parent.Dispose();
            return handle;
        }
    }

    public unsafe FsResult<byte[]> ReadLink(Caller caller, FileHandle handle)
    {
        FsStatus status = handles.Resolve(handle, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (!st.IsSymlink)
                return FsStatus.WrongType;
            byte* buffer = stackalloc byte[Names.MaxSymlinkTargetBytes + 1];
            nint length = LibC.readlinkat(fd, "", buffer, Names.MaxSymlinkTargetBytes + 1);
            if (length < 0)
                return failures.Fail(nameof(LibC.readlinkat));
            return new ReadOnlySpan<byte>(buffer, (int)length).ToArray();
        }
    }

    public unsafe FsResult<(IReadOnlyList<DirectoryEntry> Entries, bool EndOfDirectory)> ReadDirectory(Caller caller, FileHandle directory, ulong cookie, int maxEntries)
    {
        if (maxEntries <= 0 || cookie is 1 or 2 || (cookie != 0 && cookie - CookieBias > long.MaxValue))
            return FsStatus.Invalid;
        FsStatus status = handles.ResolveDirectory(directory, forLookup: false, out SafeFd dir, out Statx dirStat);
        if (status != FsStatus.Ok)
            return status;
        using (dir)
        {
            if (!ModeBits.Allows(caller, dirStat, ModeBits.Read))
                return FsStatus.AccessDenied;

            // getdents64 needs a readable fd; reopen the same directory through its O_PATH fd.
            using SafeFd stream = LibC.openat(dir, ".", LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
            if (stream.IsInvalid)
                return failures.Fail(nameof(LibC.openat));
            if (cookie != 0 && LibC.lseek(stream, (long)(cookie - CookieBias), LibC.SEEK_SET) < 0)
                return failures.Fail(nameof(LibC.lseek));

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
                            return failures.Fail(nameof(LibC.getdents64));
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

    private unsafe DirectoryEntry? ReadEntry(SafeFd dir, byte* namePointer, ReadOnlySpan<byte> name, ulong cookie, out FsStatus status)
    {
        status = FsStatus.Ok;
        using SafeFd child = LibC.openat(dir, namePointer, LibC.O_PATH | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
        if (child.IsInvalid)
        {
            int errno = LibC.LastErrno;
            if (errno == Errno.ENOENT)
                return null; // removed since getdents64 saw it
            status = failures.Fail(nameof(LibC.openat), errno);
            return null;
        }
        FsResult<FileHandle> handle = handles.MakeHandle(child);
        if (handle.Status == FsStatus.CrossDevice)
        {
            Log.SkippedMountPoint(logger, FileName.FromBytes(name).ToString());
            return null;
        }
        if (!handle.IsOk)
        {
            status = handle.Status;
            return null;
        }
        if (Stat(child, out Statx st) != 0)
        {
            status = failures.Fail(nameof(LibC.statx));
            return null;
        }
        return new DirectoryEntry(FileName.FromBytes(name), cookie, handle.Value, Attributes.From(st)); // the bytes as stored, never decoded
    }
}
