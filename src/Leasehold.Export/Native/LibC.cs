using System.Runtime.InteropServices;

namespace Leasehold.Export.Native;

/// <summary>
/// The libc calls the export uses, source-generated (LibraryImport). Every call that can fail sets errno, read with
/// <see cref="Marshal.GetLastPInvokeError"/>. Constants are Linux's; the O_* flags that differ between architectures
/// are picked at type initialisation.
/// </summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc";

    // open(2) flags. O_DIRECTORY and O_NOFOLLOW differ on arm64 (asm-generic vs. the arm64 fcntl.h).
    public const int O_RDONLY = 0x0;
    public const int O_WRONLY = 0x1;
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;
    public static readonly int O_DIRECTORY = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x8000 : 0x20000;

    /// <summary>An unnamed regular file in the given directory, gone when closed (__O_TMPFILE | O_DIRECTORY).</summary>
    public static readonly int O_TMPFILE = 0x400000 | O_DIRECTORY;

    // *at(2) flags.
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_REMOVEDIR = 0x200;
    public const int AT_EMPTY_PATH = 0x1000;

    public const int SEEK_SET = 0;

    // statx(2) mask bits.
    public const uint STATX_BASIC_STATS = 0x7ff;
    public const uint STATX_BTIME = 0x800;

    // utimensat(2) special nanosecond values.
    public const long UTIME_NOW = (1L << 30) - 1;
    public const long UTIME_OMIT = (1L << 30) - 2;

    // st_mode file types.
    public const uint S_IFMT = 0xF000;
    public const uint S_IFSOCK = 0xC000;
    public const uint S_IFLNK = 0xA000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFIFO = 0x1000;
    public const uint S_ISUID = 0x800;
    public const uint S_ISGID = 0x400;
    public const uint S_ISVTX = 0x200;

    /// <summary>MAX_HANDLE_SZ in linux/exportfs.h.</summary>
    public const int MaxHandleSize = 128;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial SafeFd openat(int dirfd, string path, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial SafeFd openat(SafeFd dirfd, string path, int flags, uint mode);

    /// <summary>openat with a NUL-terminated name straight from a getdents64 buffer, so names that are not UTF-8 still open.</summary>
    [LibraryImport(Lib, EntryPoint = "openat", SetLastError = true)]
    public static partial SafeFd openat(SafeFd dirfd, byte* path, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int name_to_handle_at(SafeFd dirfd, string path, FileHandleHeader* handle, out int mountId, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial SafeFd open_by_handle_at(SafeFd mountFd, FileHandleHeader* handle, int flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(SafeFd dirfd, string path, int flags, uint mask, out Statx result);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fstatfs(SafeFd fd, out StatFs result);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint readlinkat(SafeFd dirfd, string path, byte* buffer, nuint size);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint readlink(string path, byte* buffer, nuint size);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint getdents64(SafeFd fd, byte* buffer, nuint size);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial long lseek(SafeFd fd, long offset, int whence);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint pread(SafeFd fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint pwrite(SafeFd fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fsync(SafeFd fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fdatasync(SafeFd fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ftruncate(SafeFd fd, long length);

    /// <summary>fcntl(fd, F_DUPFD_CLOEXEC, 0): a second descriptor for the same open file.</summary>
    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static partial SafeFd DuplicateFd(SafeFd fd, int command, int minimum);

    public const int F_DUPFD_CLOEXEC = 1030;

    /// <summary>glibc's makedev for Linux's 64-bit dev_t.</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8) | ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int fchownat(SafeFd dirfd, string path, uint owner, uint group, int flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int fchmodat(int dirfd, string path, uint mode, int flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int utimensat(SafeFd dirfd, string path, Timespec* times, int flags);

    // Name-taking calls with the name as bytes (FileName: any charset, NUL-terminated, pinned without a copy).

    [LibraryImport(Lib, EntryPoint = "statx", SetLastError = true)]
    private static partial int statx(SafeFd dirfd, byte* path, int flags, uint mask, out Statx result);

    [LibraryImport(Lib, EntryPoint = "name_to_handle_at", SetLastError = true)]
    private static partial int name_to_handle_at(SafeFd dirfd, byte* path, FileHandleHeader* handle, out int mountId, int flags);

    [LibraryImport(Lib, EntryPoint = "mkdirat", SetLastError = true)]
    private static partial int mkdirat(SafeFd dirfd, byte* path, uint mode);

    [LibraryImport(Lib, EntryPoint = "symlinkat", SetLastError = true)]
    private static partial int symlinkat(byte* target, SafeFd dirfd, byte* path);

    [LibraryImport(Lib, EntryPoint = "mknodat", SetLastError = true)]
    private static partial int mknodat(SafeFd dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport(Lib, EntryPoint = "linkat", SetLastError = true)]
    private static partial int linkat(SafeFd olddirfd, byte* oldpath, SafeFd newdirfd, byte* newpath, int flags);

    [LibraryImport(Lib, EntryPoint = "unlinkat", SetLastError = true)]
    private static partial int unlinkat(SafeFd dirfd, byte* path, int flags);

    [LibraryImport(Lib, EntryPoint = "renameat", SetLastError = true)]
    private static partial int renameat(SafeFd olddirfd, byte* oldpath, SafeFd newdirfd, byte* newpath);

    public static SafeFd openat(SafeFd dirfd, in FileName name, int flags, uint mode)
    {
        fixed (byte* path = name.NulTerminated)
            return openat(dirfd, path, flags, mode);
    }

    public static int statx(SafeFd dirfd, in FileName name, int flags, uint mask, out Statx result)
    {
        fixed (byte* path = name.NulTerminated)
            return statx(dirfd, path, flags, mask, out result);
    }

    public static int name_to_handle_at(SafeFd dirfd, in FileName name, FileHandleHeader* handle, out int mountId, int flags)
    {
        fixed (byte* path = name.NulTerminated)
            return name_to_handle_at(dirfd, path, handle, out mountId, flags);
    }

    public static int mkdirat(SafeFd dirfd, in FileName name, uint mode)
    {
        fixed (byte* path = name.NulTerminated)
            return mkdirat(dirfd, path, mode);
    }

    /// <summary>symlinkat with the target as bytes; <paramref name="target"/> must hold no NUL (a terminator is added here).</summary>
    public static int symlinkat(ReadOnlySpan<byte> target, SafeFd dirfd, in FileName name)
    {
        byte[] terminated = new byte[target.Length + 1];
        target.CopyTo(terminated);
        fixed (byte* text = terminated)
        fixed (byte* path = name.NulTerminated)
            return symlinkat(text, dirfd, path);
    }

    /// <summary>Makes a device node, fifo or socket (mknod(2)); <paramref name="dev"/> is makedev(major, minor).</summary>
    public static int mknodat(SafeFd dirfd, in FileName name, uint mode, ulong dev)
    {
        fixed (byte* path = name.NulTerminated)
            return mknodat(dirfd, path, mode, dev);
    }

    /// <summary>linkat(source, "", dir, name, flags): with AT_EMPTY_PATH, links the inode behind <paramref name="source"/>.</summary>
    public static int linkat(SafeFd source, SafeFd newdirfd, in FileName name, int flags)
    {
        byte empty = 0;
        fixed (byte* path = name.NulTerminated)
            return linkat(source, &empty, newdirfd, path, flags);
    }

    public static int unlinkat(SafeFd dirfd, in FileName name, int flags)
    {
        fixed (byte* path = name.NulTerminated)
            return unlinkat(dirfd, path, flags);
    }

    public static int renameat(SafeFd olddirfd, in FileName oldName, SafeFd newdirfd, in FileName newName)
    {
        fixed (byte* oldPath = oldName.NulTerminated)
        fixed (byte* newPath = newName.NulTerminated)
            return renameat(olddirfd, oldPath, newdirfd, newPath);
    }

    public static int LastErrno => Marshal.GetLastPInvokeError();
}

/// <summary>struct file_handle: handle_bytes, handle_type, then f_handle[handle_bytes].</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FileHandleHeader
{
    public uint HandleBytes;
    public int HandleType;
}

/// <summary>struct statx_timestamp.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct StatxTimestamp
{
    public long Seconds;
    public uint Nanoseconds;
    private readonly int _reserved;
}

/// <summary>struct statx (include/uapi/linux/stat.h), 256 bytes; the fields after stx_mnt_id are not read.</summary>
[StructLayout(LayoutKind.Sequential, Size = 256)]
internal struct Statx
{
    public uint Mask;
    public uint BlockSize;
    public ulong Attributes;
    public uint NumLinks;
    public uint Uid;
    public uint Gid;
    public ushort Mode;
    private readonly ushort _spare0;
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong AttributesMask;
    public StatxTimestamp AccessTime;
    public StatxTimestamp BirthTime;
    public StatxTimestamp ChangeTime;
    public StatxTimestamp ModifyTime;
    public uint RdevMajor;
    public uint RdevMinor;
    public uint DevMajor;
    public uint DevMinor;
    public ulong MountId;

    public readonly uint FileTypeBits => Mode & LibC.S_IFMT;

    public readonly bool IsDirectory => FileTypeBits == LibC.S_IFDIR;

    public readonly bool IsRegular => FileTypeBits == LibC.S_IFREG;

    public readonly bool IsSymlink => FileTypeBits == LibC.S_IFLNK;
}

/// <summary>struct statfs on 64-bit Linux (every field a long, f_fsid two ints).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct StatFs
{
    public long Type;
    public long BlockSize;
    public ulong Blocks;
    public ulong FreeBlocks;
    public ulong AvailableBlocks;
    public ulong Files;
    public ulong FreeFiles;
    public ulong FsId;
    public long NameLength;
    public long FragmentSize;
    public long Flags;
    private readonly long _spare0;
    private readonly long _spare1;
    private readonly long _spare2;
    private readonly long _spare3;
}

/// <summary>struct timespec on 64-bit Linux.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Timespec
{
    public long Seconds;
    public long Nanoseconds;
}
