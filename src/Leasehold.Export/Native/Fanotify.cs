using System.Runtime.InteropServices;

namespace Leasehold.Export.Native;

// LibC, fanotify(7): a notification group that reports file ids (FAN_REPORT_FID), with per-inode marks.
internal static unsafe partial class LibC
{
    public const uint FAN_CLOEXEC = 0x1;
    public const uint FAN_NONBLOCK = 0x2;
    public const uint FAN_CLASS_NOTIF = 0x0;
    public const uint FAN_UNLIMITED_MARKS = 0x20;
    public const uint FAN_REPORT_FID = 0x200;

    public const uint FAN_MARK_ADD = 0x1;
    public const uint FAN_MARK_REMOVE = 0x2;

    public const ulong FAN_MODIFY = 0x2;
    public const ulong FAN_ATTRIB = 0x4;
    public const ulong FAN_DELETE_SELF = 0x400;
    public const ulong FAN_MOVE_SELF = 0x800;
    public const ulong FAN_Q_OVERFLOW = 0x4000;

    public const byte FAN_EVENT_METADATA_VERSION = 3;
    public const byte FAN_EVENT_INFO_TYPE_FID = 1;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial SafeFd fanotify_init(uint flags, uint eventFileFlags);

    /// <summary>fanotify_mark with a NULL path: marks the inode behind <paramref name="fd"/> itself.</summary>
    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fanotify_mark(SafeFd fanotify, uint flags, ulong mask, SafeFd fd, byte* path);
}

/// <summary>struct fanotify_event_metadata (24 bytes): event_len, vers, reserved, metadata_len, mask, fd, pid.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FanotifyEventMetadata
{
    public uint EventLength;
    public byte Version;
    private readonly byte _reserved;
    public ushort MetadataLength;
    public ulong Mask;
    public int Fd;
    public int Pid;
}
