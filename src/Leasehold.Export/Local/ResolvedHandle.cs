using Leasehold.Export.Native;

namespace Leasehold.Export.Local;

/// <summary>
/// An entry of the cache of verified handles (<see cref="HandleTable"/>): the file's O_PATH descriptor, when it was last
/// found inside the export, and the O_RDONLY descriptor READ keeps open for the next READ (<see cref="FileData"/>).
/// </summary>
internal sealed class ResolvedHandle(SafeFd fd, long checkedAt, ulong ino, bool isRegular)
{
    public SafeFd Fd { get; } = fd;

    /// <summary>The file's inode number (a write guard drops every cached reader of its inode).</summary>
    public ulong Ino { get; } = ino;

    /// <summary>Whether the file is a regular file (an inode never changes type).</summary>
    public bool IsRegular { get; } = isRegular;

    public long CheckedAt { get; } = checkedAt;

    /// <summary>An O_RDONLY descriptor, opened by the first READ and kept for the next ones.</summary>
    public SafeFd? Reader;

    public void Dispose()
    {
        Fd.Dispose();
        Interlocked.Exchange(ref Reader, null)?.Dispose();
    }
}
