using System.Text;
using Leasehold.Export.Native;

namespace Leasehold.Export.Local;

/// <summary>The few calls on a descriptor every part of the tree makes: stat, stat by name, reopen, and its /proc path.</summary>
internal static class Descriptors
{
    /// <summary>
    /// Opens the file behind an O_PATH fd for I/O, through its /proc magic link (same inode, no path walk). O_NONBLOCK
    /// (no effect on regular file I/O) is the safety net for kernel leases: an open that conflicts with one fails with
    /// EWOULDBLOCK at once instead of parking the thread for lease-break-time.
    /// </summary>
    public static SafeFd Reopen(SafeFd fd, int flags) =>
        LibC.openat(LibC.AT_FDCWD, fd.ProcPath, flags | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);

    public static int Stat(SafeFd fd, out Statx st) =>
        LibC.statx(fd, "", LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW, Attributes.StatxMask, out st);

    public static int StatAt(SafeFd dir, in FileName name, out Statx st) =>
        LibC.statx(dir, name, LibC.AT_SYMLINK_NOFOLLOW, Attributes.StatxMask, out st);

    /// <summary>Where the kernel says the descriptor's file is (/proc/self/fd/N); null when that cannot be read.</summary>
    public static unsafe string? ReadProcLink(SafeFd fd)
    {
        const int Size = 4096 + 16; // PATH_MAX, plus room for " (deleted)"
        byte* buffer = stackalloc byte[Size];
        nint length = LibC.readlink(fd.ProcPath, buffer, Size);
        return length is < 0 or >= Size ? null : Encoding.UTF8.GetString(buffer, (int)length);
    }
}
