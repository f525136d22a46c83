using System.Runtime.InteropServices;

namespace Leasehold.Testing;

/// <summary>Inode numbers, to find a file's lines in /proc/locks or match it to a kernel lease (.NET has no inode API).</summary>
public static partial class Inode
{
    /// <summary>The inode number of <paramref name="path"/> (stat(2), following symlinks); IOException if stat fails.</summary>
    public static ulong Of(string path)
    {
        // struct stat begins with st_dev then st_ino, both 64-bit, on x86-64 and on arm64 (asm-generic/stat.h).
        Span<byte> buffer = stackalloc byte[256];
        if (Stat(path, buffer) != 0)
            throw new IOException($"stat {path} failed with errno {Marshal.GetLastPInvokeError()}.");
        return BitConverter.ToUInt64(buffer[8..16]);
    }

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Stat(string path, Span<byte> buffer);
}
