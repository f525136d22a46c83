using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Leasehold.IntegrationTests;

/// <summary>What a file looks like on disk, read around the server: owner, group, mode and link count from statx(2).</summary>
public readonly record struct DiskStat(uint Uid, uint Gid, uint Mode, uint Links, ulong Size);

/// <summary>Looks at and changes the export directly, as a local user would, to check what the server did.</summary>
public static partial class Disk
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7ff;

    /// <summary>struct statx is 256 bytes on every architecture; the offsets below are from linux/stat.h.</summary>
    private const int StatxSize = 256;

    public static DiskStat Stat(string path)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        if (StatX(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
            throw new IOException($"statx({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        return new DiskStat(
            Uid: BinaryPrimitives.ReadUInt32LittleEndian(buffer[20..]),
            Gid: BinaryPrimitives.ReadUInt32LittleEndian(buffer[24..]),
            Mode: BinaryPrimitives.ReadUInt16LittleEndian(buffer[28..]),
            Links: BinaryPrimitives.ReadUInt32LittleEndian(buffer[16..]),
            Size: BinaryPrimitives.ReadUInt64LittleEndian(buffer[40..]));
    }

    public static void Chown(string path, uint uid, uint gid)
    {
        if (LChown(path, uid, gid) != 0)
            throw new IOException($"lchown({path}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>A directory with exactly this mode (umask does not apply) and owner.</summary>
    public static string MakeDirectory(string path, UnixFileMode mode, uint uid = 0, uint gid = 0)
    {
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, mode);
        Chown(path, uid, gid);
        return path;
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int dirfd, string path, int flags, uint mask, Span<byte> buffer);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LChown(string path, uint uid, uint gid);
}
