using System.Runtime.InteropServices;

namespace Leasehold.Export.Native;

// LibC, extended attributes (getxattr(2), setxattr(2), listxattr(2), removexattr(2)). The path forms, not the f* ones:
// the export's descriptors are O_PATH, which the f* calls refuse (EBADF), so they are given the descriptor's
// /proc/self/fd magic link (SafeFd.ProcPath), which the path forms follow to the file itself. The l* forms would act on
// the magic link instead.
internal static unsafe partial class LibC
{
    /// <summary>setxattr(2) flag: fail with EEXIST when the attribute exists.</summary>
    public const int XATTR_CREATE = 0x1;

    /// <summary>setxattr(2) flag: fail with ENODATA when the attribute does not exist.</summary>
    public const int XATTR_REPLACE = 0x2;

    /// <summary>Linux's largest attribute value (XATTR_SIZE_MAX), and largest name list (XATTR_LIST_MAX), in bytes.</summary>
    public const int XATTR_SIZE_MAX = 65536;

    /// <summary>Linux's longest attribute name, namespace prefix included (XATTR_NAME_MAX), in bytes.</summary>
    public const int XATTR_NAME_MAX = 255;

    /// <summary>The value's length, or -1 with errno; with <paramref name="size"/> 0 only the length is returned.</summary>
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint getxattr(string path, byte* name, byte* value, nuint size);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int setxattr(string path, byte* name, byte* value, nuint size, int flags);

    /// <summary>The NUL-separated names' total length, or -1 with errno; with <paramref name="size"/> 0 only the length.</summary>
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint listxattr(string path, byte* list, nuint size);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int removexattr(string path, byte* name);
}
