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
/// The pinned files of a <see cref="LocalDirectoryTree"/>: one O_PATH descriptor per pinned handle, shared by all its
/// pins (counted) and closed with the last of them. The descriptor holds the inode, so the kernel frees neither it nor
/// its data while pinned, and the tree resolves an unlinked handle through it (<see cref="Duplicate"/>). When the last
/// pin goes, <c>lastReleased</c> is called (outside the lock) so the tree can drop its own cached descriptors of the file.
/// </summary>
/// <remarks>One lock guards the table, the counts and every use of a descriptor (a duplicate is made under it, so a
/// descriptor is never closed while it is being duplicated). Pins change at OPEN and CLOSE, and the table is read only
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

    /// <summary>A new descriptor for the pinned file (the caller owns it), or null when <paramref name="handle"/> is not pinned.</summary>
    public SafeFd? Duplicate(FileHandle handle)
    {
        lock (_sync)
        {
            if (!_pins.TryGetValue(handle, out var entry))
                return null;
            SafeFd copy = LibC.DuplicateFd(entry.Fd, LibC.F_DUPFD_CLOEXEC, 0);
            if (!copy.IsInvalid)
                return copy;
            copy.Dispose();
            return null;
        }
    }

    /// <summary>Gives up one pin; with the last, closes the descriptor and tells the tree (which may hold others).</summary>
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
