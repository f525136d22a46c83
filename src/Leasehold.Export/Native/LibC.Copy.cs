using System.Runtime.InteropServices;

namespace Leasehold.Export.Native;

// LibC, the calls of COPY and CLONE (RFC 7862 §15.2, §15.13): copy_file_range(2), ioctl(2) FICLONERANGE, statfs(2).
internal static unsafe partial class LibC
{
    /// <summary>ioctl_ficlonerange(2): _IOW(0x94, 13, struct file_clone_range).</summary>
    public const uint FICLONERANGE = 0x4020940D;

    /// <summary>
    /// Copies up to <paramref name="length"/> bytes from <paramref name="input"/> at *<paramref name="inputOffset"/> to
    /// <paramref name="output"/> at *<paramref name="outputOffset"/>, advancing both offsets; returns the bytes copied
    /// (0 at the input's end) or -1 with errno. The kernel shares blocks where the filesystem can (reflink), and
    /// splices through the page cache elsewhere.
    /// </summary>
    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint copy_file_range(SafeFd input, long* inputOffset, SafeFd output, long* outputOffset, nuint length, uint flags);

    /// <summary>ioctl(fd, FICLONERANGE, &amp;range): the destination range shares the source range's blocks.</summary>
    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int ioctl_ficlonerange(SafeFd destination, nuint request, FileCloneRange* range);

    [LibraryImport(Lib, EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statfs_path(string path, out StatFs result);
}

/// <summary>struct file_clone_range (linux/fs.h): source descriptor, source offset and length (0 = to its end), destination offset.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FileCloneRange
{
    public long SourceFd;
    public ulong SourceOffset;
    public ulong SourceLength;
    public ulong DestinationOffset;
}
