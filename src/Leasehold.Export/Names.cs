using System.Buffers;
using System.Text.Unicode;

namespace Leasehold.Export;

/// <summary>What a single directory entry name may be: one path component, never one that walks (".", "..").</summary>
internal static class Names
{
    /// <summary>NAME_MAX: the longest name Linux filesystems store, in bytes.</summary>
    public const int MaxNameBytes = 255;

    /// <summary>PATH_MAX less the NUL: the longest symlink target readlink(2) can return whole.</summary>
    public const int MaxSymlinkTargetBytes = 4095;

    public static FsStatus Check(string name)
    {
        if (name.Length == 0 || name is "." or "..")
            return FsStatus.InvalidName;
        if (name.AsSpan().IndexOfAny('/', '\0') >= 0)
            return FsStatus.InvalidName;
        if (name.Length > MaxNameBytes)
            return FsStatus.NameTooLong; // every UTF-16 unit is at least one UTF-8 byte
        Span<byte> utf8 = stackalloc byte[MaxNameBytes * 3];
        OperationStatus status = Utf8.FromUtf16(name, utf8, out _, out int written, replaceInvalidSequences: false);
        if (status != OperationStatus.Done)
            return FsStatus.InvalidName; // a lone surrogate has no UTF-8 form, so it could never be looked up again
        return written > MaxNameBytes ? FsStatus.NameTooLong : FsStatus.Ok;
    }
}
