using System.Runtime.InteropServices;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Names as bytes on disk, as a local process in another charset makes them: openat(2), mkdirat(2) and statx(2) with the
/// name passed as the bytes themselves (no string, so nothing is decoded or re-encoded on the way).
/// </summary>
public static unsafe partial class Disk
{
    private const int OPath = 0x200000;
    private const int OCloexec = 0x80000;
    private const int OWronly = 0x1;
    private const int OCreat = 0x40;
    private const int OExcl = 0x80;

    /// <summary>Creates an empty regular file (mode 0644) named <paramref name="name"/> in <paramref name="directory"/>.</summary>
    public static void CreateFileNamed(string directory, ReadOnlySpan<byte> name)
    {
        int dir = OpenDirectory(directory);
        try
        {
            int fd = At(name, p => OpenAt(dir, p, OWronly | OCreat | OExcl | OCloexec, 0b110_100_100));
            if (fd < 0)
                throw new IOException($"openat({directory}, {Convert.ToHexString(name)}) failed: errno {Marshal.GetLastPInvokeError()}");
            Close(fd);
        }
        finally
        {
            Close(dir);
        }
    }

    /// <summary>Makes a directory (mode 0755) named <paramref name="name"/> in <paramref name="directory"/>.</summary>
    public static void MakeDirectoryNamed(string directory, ReadOnlySpan<byte> name)
    {
        int dir = OpenDirectory(directory);
        try
        {
            if (At(name, p => MkdirAt(dir, p, 0b111_101_101)) != 0)
                throw new IOException($"mkdirat({directory}, {Convert.ToHexString(name)}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            Close(dir);
        }
    }

    /// <summary>Whether <paramref name="directory"/> holds an entry with exactly these bytes as its name.</summary>
    public static bool ExistsNamed(string directory, ReadOnlySpan<byte> name)
    {
        int dir = OpenDirectory(directory);
        try
        {
            byte* buffer = stackalloc byte[StatxSize];
            return At(name, p => StatXAt(dir, p, AtSymlinkNoFollow, StatxBasicStats, buffer)) == 0;
        }
        finally
        {
            Close(dir);
        }
    }

    private static int OpenDirectory(string path)
    {
        int fd = Open(path, OPath | OCloexec);
        if (fd < 0)
            throw new IOException($"open({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        return fd;
    }

    /// <summary>Calls <paramref name="call"/> with the name NUL-terminated, pinned.</summary>
    private static int At(ReadOnlySpan<byte> name, Func<nint, int> call)
    {
        byte[] terminated = new byte[name.Length + 1];
        name.CopyTo(terminated);
        fixed (byte* p = terminated)
            return call((nint)p);
    }

    private static int OpenAt(int dirfd, nint path, int flags, uint mode) => OpenAtRaw(dirfd, (byte*)path, flags, mode);

    private static int MkdirAt(int dirfd, nint path, uint mode) => MkdirAtRaw(dirfd, (byte*)path, mode);

    private static int StatXAt(int dirfd, nint path, int flags, uint mask, byte* buffer) => StatXRaw(dirfd, (byte*)path, flags, mask, buffer);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true)]
    private static partial int OpenAtRaw(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true)]
    private static partial int MkdirAtRaw(int dirfd, byte* path, uint mode);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static partial int StatXRaw(int dirfd, byte* path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
