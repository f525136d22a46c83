using System.Runtime.InteropServices;

namespace Leasehold.Export.Native;

// LibC, the calls of the NFSv4.2 space operations: fallocate(2), lseek(2)'s SEEK_DATA / SEEK_HOLE and posix_fadvise(2).
internal static partial class LibC
{
    /// <summary>lseek(2) whence: the next offset at or after the given one that holds data / starts a hole (ENXIO: none).</summary>
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    // fallocate(2) modes (linux/falloc.h). Mode 0 reserves blocks and may grow the file.
    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;

    // posix_fadvise(2) advice (the Linux values; POSIX_FADV_DONTNEED and NOREUSE are 4 and 5 on x86_64 and arm64).
    public const int POSIX_FADV_NORMAL = 0;
    public const int POSIX_FADV_RANDOM = 1;
    public const int POSIX_FADV_SEQUENTIAL = 2;
    public const int POSIX_FADV_WILLNEED = 3;
    public const int POSIX_FADV_DONTNEED = 4;
    public const int POSIX_FADV_NOREUSE = 5;

    /// <summary>fallocate(2): 0 or -1 with errno (EOPNOTSUPP where the filesystem cannot, EBADF on a descriptor not open for writing).</summary>
    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fallocate(SafeFd fd, int mode, long offset, long length);

    /// <summary>posix_fadvise(2): returns the error number itself (0 on success), never sets errno.</summary>
    [LibraryImport(Lib)]
    public static partial int posix_fadvise(SafeFd fd, long offset, long length, int advice);
}
