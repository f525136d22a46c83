using System.Collections.Concurrent;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.State;

/// <summary>
/// A blocking LOCK (READW_LT or WRITEW_LT) answered NFS4ERR_DENIED: its client polls for it, and is told when it may be
/// free. <see cref="Since"/> is the server clock's timestamp of the (latest) denial.
/// </summary>
internal sealed record BlockedLock(NfsClient Client, FileHandle File, ulong FileId, byte[] LockOwner, Owner EngineOwner, RangeLockType Type,
    ulong Start, ulong End, long Since);

/// <summary>
/// The blocking LOCK requests that were denied, by file (RFC 8881 §9.6 and §20.11), as knfsd keeps its nfsd4_blocked_lock
/// list. OPEN tells every client OPEN4_RESULT_MAY_NOTIFY_LOCK; when locks on a file are released (the lock table's
/// <see cref="RangeLockTable.Released"/>), each waiter whose lock would now be granted is sent CB_NOTIFY_LOCK once and
/// forgotten, so the client asks again at once instead of at its next poll (Linux: up to 30 s later). A waiter is also
/// forgotten when its owner gets the lock, when its client goes, and after two lease times (the client polls long
/// before that). At most <see cref="MaxPerFile"/> waiters a file, the oldest going first. The notice is a hint: a
/// client that misses it polls as before, so it is sent once, on the newest back channel that is up. A file's list
/// leaves the table when it empties (retired under its lock, as <see cref="RangeLockTable"/> retires its own).
/// </summary>
internal sealed class BlockedLocks(Nfs4Server server)
{
    /// <summary>Waiters kept for one file; past it the oldest is dropped (its client still polls).</summary>
    public const int MaxPerFile = 64;

    private readonly ConcurrentDictionary<ulong, FileWaiters> _byFile = new();

    private sealed class FileWaiters
    {
        public readonly List<BlockedLock> Waiters = [];
        public bool Retired;
    }

    /// <summary>Records (or refreshes) a denied blocking LOCK.</summary>
    public void Denied(BlockedLock waiter)
    {
        while (true)
        {
            var file = _byFile.GetOrAdd(waiter.FileId, static _ => new FileWaiters());
            lock (file)
            {
                if (file.Retired)
                    continue;
                file.Waiters.RemoveAll(w => Same(w, waiter.Client, waiter.LockOwner));
                if (file.Waiters.Count >= MaxPerFile)
                    file.Waiters.RemoveAt(0);
                file.Waiters.Add(waiter);
                return;
            }
        }
    }

    /// <summary>The owner got a lock on the file: it waits no more.</summary>
    public void Granted(ulong fileId, NfsClient client, byte[] lockOwner) =>
        Prune(fileId, w => Same(w, client, lockOwner));

    /// <summary>The waiters on a file now (for the admin views), oldest first.</summary>
    public IReadOnlyList<BlockedLock> On(ulong fileId)
    {
        long now = server.Time.GetTimestamp();
        return Prune(fileId, w => Stale(w, now));
    }

    /// <summary>Every file with waiters (for the admin views).</summary>
    public IEnumerable<ulong> Files => _byFile.Keys;

    /// <summary>Locks on <paramref name="file"/> were released: notify each waiter whose lock would now be granted.</summary>
    public void Released(FileKey file)
    {
        var ready = new List<BlockedLock>();
        long now = server.Time.GetTimestamp();
        Prune(file.Low, w =>
        {
            if (Stale(w, now))
                return true;
            if (server.RangeLocks.Test(file, w.EngineOwner, w.Type, w.Start, w.End) is not null)
                return false;
            ready.Add(w);
            return true;
        });
        foreach (var w in ready)
            _ = NotifyAsync(w);
    }

    /// <summary>A client went: its waiters go with it.</summary>
    public void Forget(NfsClient client)
    {
        foreach (var fileId in _byFile.Keys)
            Prune(fileId, w => w.Client == client);
    }

    /// <summary>Removes the file's waiters that <paramref name="remove"/> picks, retiring the list if it empties; returns those left.</summary>
    private List<BlockedLock> Prune(ulong fileId, Predicate<BlockedLock> remove)
    {
        if (!_byFile.TryGetValue(fileId, out var file))
            return [];
        lock (file)
        {
            file.Waiters.RemoveAll(remove);
            if (file.Waiters.Count == 0 && !file.Retired)
            {
                file.Retired = true;
                _byFile.TryRemove(new KeyValuePair<ulong, FileWaiters>(fileId, file));
            }
            return [.. file.Waiters];
        }
    }

    private bool Stale(BlockedLock w, long now) =>
        w.Client.Expired || server.Time.GetElapsedTime(w.Since, now) > 2 * server.Options.LeaseTime;

    private static bool Same(BlockedLock w, NfsClient client, byte[] lockOwner) =>
        w.Client == client && w.LockOwner.AsSpan().SequenceEqual(lockOwner);

    /// <summary>CB_NOTIFY_LOCK on the client's newest back channel that is up; once, as knfsd sends it.</summary>
    private async Task NotifyAsync(BlockedLock w)
    {
        await Task.Yield(); // off the releasing thread, which may be inside an NFS operation's critical section
        try
        {
            var status = CbCallStatus.NoChannel;
            var opStatus = NfsStat4.Ok;
            if (w.Client.NewestUsableSession() is { } session)
            {
                var sent = await session.Back.SendAsync(new CbCompound("notify_lock", new CbNotifyLock(w.File, w.Client.ClientId, w.LockOwner)), CancellationToken.None)
                    .ConfigureAwait(false);
                (status, opStatus) = (sent.Status, sent.Reply.OpStatus ?? NfsStat4.Ok);
            }
            Log.LockNotified(server.Logger, w.Client.ClientId, w.FileId, status, opStatus);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException)
        {
            // the server is stopping: the client will poll a server that is back, or not
        }
    }
}

/// <summary>CB_NOTIFY_LOCK4args (RFC 8881 §20.11): the lock <paramref name="Owner"/> of client <paramref name="ClientId"/> waited for on <paramref name="FileHandle"/> may be free.</summary>
internal sealed record CbNotifyLock(FileHandle FileHandle, ulong ClientId, byte[] Owner) : CbOperation(CbOpcode.CbNotifyLock)
{
    public override void WriteArguments(XdrWriter w)
    {
        w.WriteOpaque(FileHandle.Span);
        w.WriteUInt64(ClientId); // lock_owner4: clientid, owner
        w.WriteOpaque(Owner);
    }
}
