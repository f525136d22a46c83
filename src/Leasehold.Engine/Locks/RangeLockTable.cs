using System.Collections.Concurrent;

namespace Leasehold.Engine;

/// <summary>Shared (read) or exclusive (write) byte-range lock.</summary>
public enum RangeLockType : byte
{
    Read,
    Write,
}

/// <summary>A lock on bytes [<see cref="Start"/>, <see cref="End"/>] (inclusive; <see cref="ulong.MaxValue"/> means "to the end of the file").</summary>
public readonly record struct RangeLock(Owner Owner, RangeLockType Type, ulong Start, ulong End)
{
    public bool Overlaps(ulong start, ulong end) => Start <= end && start <= End;

    /// <summary>Whether this lock stops <paramref name="owner"/> from taking [start, end] as <paramref name="type"/>: another owner's, overlapping, and a write on either side.</summary>
    public bool Conflicts(Owner owner, RangeLockType type, ulong start, ulong end) =>
        Owner != owner && Overlaps(start, end) && (type == RangeLockType.Write || Type == RangeLockType.Write);
}

/// <summary>
/// POSIX-style byte-range locks (fcntl F_SETLK semantics): locks of different owners conflict when they overlap and
/// either is a write lock; an owner's own locks never conflict with each other, and a new lock replaces the owner's
/// overlapping ranges (splitting them as needed), as does an unlock. Per-file lock, no blocking: a conflict is
/// reported with the lock in the way, and the caller (NFS LOCK) answers DENIED.
/// </summary>
public sealed class RangeLockTable
{
    private readonly ConcurrentDictionary<FileKey, FileLocks> _files = new();

    /// <summary>
    /// Called after locks on a file were released or weakened (an unlock, an owner's locks going, a write lock taken
    /// again as read), outside the table's lock: a waiter that was denied may now get its lock (NFS CB_NOTIFY_LOCK).
    /// </summary>
    public Action<FileKey>? Released { get; set; }

    private sealed class FileLocks
    {
        public readonly Lock Sync = new();
        public readonly List<RangeLock> Locks = [];
        public bool Retired;
    }

    /// <summary>Takes a lock, or returns the conflicting lock of another owner and takes nothing.</summary>
    public RangeLock? TryLock(FileKey file, Owner owner, RangeLockType type, ulong start, ulong end)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start, end);
        bool weakened;
        while (true)
        {
            var locks = _files.GetOrAdd(file, static _ => new FileLocks());
            lock (locks.Sync)
            {
                if (locks.Retired)
                    continue;
                if (FindConflict(locks.Locks, owner, type, start, end) is { } conflict)
                {
                    Retire(file, locks);
                    return conflict;
                }
                weakened = Carve(locks.Locks, owner, start, end, type);
                locks.Locks.Add(new RangeLock(owner, type, start, end));
                break;
            }
        }
        if (weakened)
            Released?.Invoke(file); // outside the lock: the listener asks Test, under its own lock
        return null;
    }

    /// <summary>The lock that would stop <paramref name="owner"/> from taking this one, if any (NFS LOCKT).</summary>
    public RangeLock? Test(FileKey file, Owner owner, RangeLockType type, ulong start, ulong end)
    {
        if (!_files.TryGetValue(file, out var locks))
            return null;
        lock (locks.Sync)
            return FindConflict(locks.Locks, owner, type, start, end);
    }

    /// <summary>Releases the owner's locks over the range, splitting ranges that extend past it.</summary>
    public void Unlock(FileKey file, Owner owner, ulong start, ulong end)
    {
        if (!_files.TryGetValue(file, out var locks))
            return;
        bool released;
        lock (locks.Sync)
        {
            released = Carve(locks.Locks, owner, start, end);
            Retire(file, locks);
        }
        if (released)
            Released?.Invoke(file);
    }

    /// <summary>Releases everything an owner holds on a file (its lock state is going away).</summary>
    public void UnlockAll(FileKey file, Owner owner) => Unlock(file, owner, 0, ulong.MaxValue);

    /// <summary>Whether the owner holds any lock on the file.</summary>
    public bool Holds(FileKey file, Owner owner)
    {
        if (!_files.TryGetValue(file, out var locks))
            return false;
        lock (locks.Sync)
            return locks.Locks.Exists(l => l.Owner == owner);
    }

    public IReadOnlyList<RangeLock> LocksOn(FileKey file)
    {
        if (!_files.TryGetValue(file, out var locks))
            return [];
        lock (locks.Sync)
            return [.. locks.Locks];
    }

    private static RangeLock? FindConflict(List<RangeLock> locks, Owner owner, RangeLockType type, ulong start, ulong end)
    {
        foreach (var l in locks)
        {
            if (l.Conflicts(owner, type, start, end))
                return l;
        }
        return null;
    }

    /// <summary>
    /// Removes [start, end] from the owner's locks, keeping the parts outside it. Returns whether that may let others in:
    /// anything removed by an unlock (<paramref name="replacedBy"/> null), or a write lock replaced by a read lock.
    /// </summary>
    private static bool Carve(List<RangeLock> locks, Owner owner, ulong start, ulong end, RangeLockType? replacedBy = null)
    {
        bool freed = false;
        for (int i = locks.Count - 1; i >= 0; i--)
        {
            var l = locks[i];
            if (l.Owner != owner || !l.Overlaps(start, end))
                continue;
            locks.RemoveAt(i);
            freed |= replacedBy is null || (l.Type == RangeLockType.Write && replacedBy == RangeLockType.Read);
            if (l.Start < start)
                locks.Add(l with { End = start - 1 });
            if (l.End > end)
                locks.Add(l with { Start = end + 1 });
        }
        return freed;
    }

    private void Retire(FileKey file, FileLocks locks)
    {
        if (locks.Locks.Count != 0)
            return;
        locks.Retired = true;
        _files.TryRemove(new KeyValuePair<FileKey, FileLocks>(file, locks));
    }
}
