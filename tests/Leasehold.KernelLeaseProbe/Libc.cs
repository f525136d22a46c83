using System.Runtime.InteropServices;

namespace Leasehold.KernelLeaseProbe;

/// <summary>
/// The few libc calls the probe needs, with the x86-64 and arm64 Linux constant values (asm-generic fcntl.h).
/// Every call sets errno; read it with <see cref="Marshal.GetLastPInvokeError"/> straight after.
/// </summary>
internal static unsafe partial class Libc
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_TRUNC = 0x200;         // 01000
    public const int O_NONBLOCK = 0x800;      // 04000: also makes open() break leases with LEASE_BREAK_NONBLOCK
    public const int O_CLOEXEC = 0x80000;     // 02000000

    public const int F_SETLEASE = 1024;       // F_LINUX_SPECIFIC_BASE + 0
    public const int F_GETLEASE = 1025;       // F_LINUX_SPECIFIC_BASE + 1

    public const int F_RDLCK = 0;
    public const int F_WRLCK = 1;
    public const int F_UNLCK = 2;

    /// <summary>SIGIO (= SIGPOLL) on x86-64 and arm64 Linux: how the kernel tells a lease holder of a break.</summary>
    public const int SIGIO = 29;

    // open(2) is variadic only for the mode argument, which O_CREAT needs and the probe never passes.
    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    // fcntl(2) is variadic; on the Linux ABIs .NET runs on an int third argument travels in the same register as a
    // fixed one would, which is how every .NET POSIX binding calls it.
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "truncate", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Truncate(string path, long length);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "unlink", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Rename(string from, string to);

    [LibraryImport("libc", EntryPoint = "chmod", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Chmod(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Link(string from, string to);

    [LibraryImport("libc", EntryPoint = "utimensat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Utimensat(int dirfd, string path, void* times, int flags);

    /// <summary>utimensat(AT_FDCWD, path, NULL, 0): both times to now.</summary>
    public static int UtimensNow(string path) => Utimensat(-100, path, null, 0);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    public static partial nint Pread(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    public static partial nint Pwrite(int fd, byte* buffer, nuint count, long offset);

    /// <summary>The errno names the tests care about; others are printed as numbers only.</summary>
    public static string ErrnoName(int errno) => errno switch
    {
        1 => "EPERM",
        2 => "ENOENT",
        4 => "EINTR",
        9 => "EBADF",
        11 => "EAGAIN",
        13 => "EACCES",
        16 => "EBUSY",
        22 => "EINVAL",
        _ => "E?",
    };
}
