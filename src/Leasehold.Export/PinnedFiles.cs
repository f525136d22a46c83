using Leasehold.Export.Native;

namespace Leasehold.Export;

/// <summary>
/// A hold on a file that keeps it reachable through its handle after its last name is removed, as an open descriptor
/// keeps an unlinked file on POSIX. Made by <see cref="IExportedTree.Pin"/>; disposing it gives the hold up (once,
/// however often it is disposed).
/// </summary>
public sealed class FilePin : IDisposable
{
    private readonly PinnedFiles _owner;
    private int _disposed;

    internal FilePin(PinnedFiles owner, FileHandle handle)
    {
        _owner = owner;
        Handle = handle;
    }

    /// <summary>The handle the pin keeps reachable.</summary>
    public FileHandle Handle { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            _owner.Release(Handle);
    }
}

/// <summary>
/// The pinned files of a <see cref="LocalDirectoryTree"/>, kept by its <see cref="Local.HandleTable"/>: one O_PATH
/// descriptor per pinned handle, shared by all its pins (counted) and closed with the last of them. The descriptor holds
/// the inode, so the kernel frees neither it nor its data while pinned, and the handle table resolves an unlinked handle
/// through it (<see cref="Borrow"/>). It is usually a borrow of the table's cached descriptor (<see cref="SafeFd.TryBorrow"/>),
/// which keeps that descriptor open until the last pin goes even if the cache drops it meanwhile. When the last pin
/// goes, <c>lastReleased</c> is called (outside the lock) so the table can drop its own cached descriptors of the file
/// if it was unlinked.
/// </summary>
/// <remarks>One lock guards the table, the counts and every use of a descriptor (a borrow is made under it, so a
/// descriptor is never closed while it is being borrowed). Pins change at OPEN and CLOSE, and the table is read only
/// for a handle that no longer resolves by name, so the lock is never on a hot path.</remarks>
internal sealed class PinnedFiles(Action<FileHandle> lastReleased) : IDisposable
{
    private readonly Lock _sync = new();
    private readonly Dictionary<FileHandle, Entry> _pins = [];

    private sealed class Entry(SafeFd fd)
    {
        public SafeFd Fd { get; } = fd;

        public int Count;
    }

    /// <summary>How many files are pinned (each holds one descriptor).</summary>
    public int Count
    {
        get
        {
            lock (_sync)
                return _pins.Count;
        }
    }

    /// <summary>Adds a pin on <paramref name="handle"/>. Takes ownership of <paramref name="fd"/>: kept for the first pin, closed otherwise.</summary>
    public FilePin Add(FileHandle handle, SafeFd fd)
    {
        lock (_sync)
        {
            if (_pins.TryGetValue(handle, out var entry))
                fd.Dispose();
            else
                _pins[handle] = entry = new Entry(fd);
            entry.Count++;
        }
        return new FilePin(this, handle);
    }

    /// <summary>
    /// A borrow of the pinned file's descriptor (<see cref="SafeFd.TryBorrow"/>; the caller disposes it, which closes
    /// nothing), or null when <paramref name="handle"/> is not pinned.
    /// </summary>
    public SafeFd? Borrow(FileHandle handle)
    {
        lock (_sync)
            return _pins.TryGetValue(handle, out var entry) ? SafeFd.TryBorrow(entry.Fd) : null;
    }

    /// <summary>Gives up one pin; with the last, disposes the descriptor (or gives its borrow back) and tells the tree (which may hold others).</summary>
    internal void Release(FileHandle handle)
    {
        lock (_sync)
        {
            if (!_pins.TryGetValue(handle, out var entry) || --entry.Count > 0)
                return;
            _pins.Remove(handle);
            entry.Fd.Dispose();
        }
        lastReleased(handle);
    }

    public void Dispose()
    {
        lock (_sync)
        {
            foreach (var entry in _pins.Values)
                entry.Fd.Dispose();
            _pins.Clear();
        }
    }
}
