using System.Net;
using System.Text;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.State;
using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4.Admin;

/// <summary>
/// What an operator sees of a running <see cref="Nfs4Server"/> and may do to it: the clients and what each holds (knfsd's
/// /proc/fs/nfsd/clients/*/{info,states}), every grant, byte-range lock and share reservation (/proc/locks), revoking a
/// client's state (knfsd's "expire", but keeping the client: RFC 8881's administrative revocation) and recalling the
/// delegations on a file. Views are a moment's copies, read lock by lock like /proc/locks: each line is consistent, the
/// whole is not one instant. Knows no HTTP; the host's admin endpoint serves it.
/// </summary>
public sealed class ServerAdmin(Nfs4Server server)
{
    /// <summary>Counts for the top of the status page: from the tables' and the engine's counters, no walk of the files.</summary>
    public ServerSummary Summary()
    {
        var clients = server.Clients.All();
        var live = server.Engine.Metrics;
        long grants = 0;
        foreach (var kind in (ReadOnlySpan<GrantKind>)[GrantKind.Lease, GrantKind.Delegation, GrantKind.Layout])
            grants += live.LiveGrants(kind, GrantState.Active) + live.LiveGrants(kind, GrantState.Breaking);
        var graceLeft = server.Grace.Left;
        return new ServerSummary(server.Time.GetUtcNow(), server.InGrace, clients.Count, clients.Count(c => c.Courtesy), server.Clients.SessionCount,
            server.States.OpenCount, server.Delegations.Count, (int)live.LiveGrants(GrantKind.Delegation, GrantState.Breaking), (int)grants,
            graceLeft?.TotalSeconds, graceLeft is null ? 0 : server.Grace.Pending);
    }

    /// <summary>Every client record, oldest first.</summary>
    public IReadOnlyList<ClientView> Clients()
    {
        var opens = server.States.AllOpens();
        return [.. server.Clients.All().Select(c => View(c, opens))];
    }

    /// <summary>A client's record and everything it holds; null when no client has <paramref name="clientId"/>.</summary>
    public ClientStatesView? Client(ulong clientId)
    {
        if (server.Clients.FindClient(clientId) is not { } client)
            return null;
        var opens = server.States.OpensOf(client).Where(o => !o.Closed).ToList();
        var paths = new PathCache(server.Tree);
        var openViews = new List<OpenView>();
        var lockViews = new List<RangeLockView>();
        foreach (var open in opens)
        {
            string path = paths.Of(open.FileId, open.File) ?? "";
            openViews.Add(new OpenView(open.Id.ToString(), path, open.FileId, Printable(open.OpenOwner), ShareName(open.Access), ShareName(open.Deny)));
            foreach (var (state, l) in HeldLocks(open))
                lockViews.Add(new RangeLockView(state.Id.ToString(), path, open.FileId, Printable(state.LockOwner), l.Type.ToString().ToUpperInvariant(), l.Start, l.End));
        }
        var delegationViews = DelegationsOf(client)
            .Select(d => new DelegationView(d.Id.ToString(), paths.Of(d.FileId, d.File) ?? "", d.FileId, TypeName(d), d.CurrentStatus.ToString().ToUpperInvariant()))
            .ToList();
        var revokedViews = server.States.AdminRevoked.Of(client)
            .Select(r => new RevokedStateView(r.Id.ToString(), r.Kind, paths.Of(r.FileId, r.File) ?? "", r.FileId))
            .OrderBy(r => r.Path, StringComparer.Ordinal).ThenBy(r => r.Kind, StringComparer.Ordinal)
            .ToList();
        return new ClientStatesView(View(client, opens), openViews, lockViews, delegationViews, revokedViews);
    }

    /// <summary>
    /// Every lease, delegation and layout the engine holds, every byte-range lock and every share reservation, file by
    /// file, as /proc/locks lists them.
    /// </summary>
    public IReadOnlyList<LockView> Locks()
    {
        var opens = server.States.AllOpens();
        var paths = new PathCache(server.Tree);
        var clients = server.Clients.All();
        var clientIds = clients.Select(c => c.ClientId).ToHashSet();
        foreach (var open in opens)
            paths.Know(open.FileId, open.File);
        foreach (var client in clients)
        {
            foreach (var d in DelegationsOf(client))
                paths.Know(d.FileId, d.File);
        }

        var rows = new List<LockView>();
        foreach (var g in server.Engine.Snapshot().Grants)
        {
            ulong fileId = g.File.Low;
            rows.Add(new LockView(g.Kind.ToString().ToUpperInvariant(), g.Mode.ToString().ToUpperInvariant(), fileId, paths.Of(fileId),
                clientIds.Contains(g.Holder.Group) ? Hex(g.Holder.Group) : null, g.Holder.ToString(), g.State.ToString().ToUpperInvariant(),
                g.Granted, g.Deadline, g.WaitingBreakers, null));
        }
        // A byte-range lock's holder is named as `client show` names it: by the NFS lock owner, not the engine's owner.
        var lockOwners = new Dictionary<Owner, string>();
        foreach (var open in opens)
        {
            foreach (var state in open.LockStates)
                lockOwners.TryAdd(state.EngineOwner, Printable(state.LockOwner));
        }
        foreach (var fileId in opens.Select(o => o.FileId).Concat(server.BlockedLocks.Files).Distinct())
        {
            // Blocking LOCKs that were denied (their clients poll, and hear CB_NOTIFY_LOCK): WAITING rows, and counted
            // on each lock in their way.
            var waiters = server.BlockedLocks.On(fileId);
            foreach (var l in server.RangeLocks.LocksOn(FileKey.From(fileId)))
            {
                int waiting = waiters.Count(w => l.Conflicts(w.EngineOwner, w.Type, w.Start, w.End));
                rows.Add(new LockView("RANGE", l.Type.ToString().ToUpperInvariant(), fileId, paths.Of(fileId),
                    clientIds.Contains(l.Owner.Group) ? Hex(l.Owner.Group) : null, lockOwners.GetValueOrDefault(l.Owner) ?? l.Owner.ToString(), "ACTIVE", null, null, waiting,
                    RangeText(l.Start, l.End)));
            }
            foreach (var w in waiters)
            {
                paths.Know(fileId, w.File);
                rows.Add(new LockView("RANGE", w.Type.ToString().ToUpperInvariant(), fileId, paths.Of(fileId), Hex(w.Client.ClientId), Printable(w.LockOwner),
                    "WAITING", server.Time.GetUtcNow() - server.Time.GetElapsedTime(w.Since), null, 0, RangeText(w.Start, w.End)));
            }
        }
        foreach (var open in opens)
        {
            rows.Add(new LockView("SHARE", $"{ShareName(open.Access)}/{ShareName(open.Deny)}", open.FileId, paths.Of(open.FileId), Hex(open.Client.ClientId),
                Printable(open.OpenOwner), "ACTIVE", open.Opened, null, 0, null));
        }
        rows.Sort((a, b) => a.FileId != b.FileId ? a.FileId.CompareTo(b.FileId) : string.CompareOrdinal(a.Kind, b.Kind));
        return rows;
    }

    /// <summary>
    /// Revokes everything a client holds, as an administrator may (RFC 8881 §8.2.4, NFS4ERR_ADMIN_REVOKED): its opens
    /// (with their share reservations and byte-range locks) are closed and its delegations released, so another client's
    /// conflicting OPEN goes ahead at once; the client record and its sessions stay, its next SEQUENCE reply carries
    /// SEQ4_STATUS_ADMIN_STATE_REVOKED, and each revoked stateid answers NFS4ERR_ADMIN_REVOKED until FREE_STATEID. A
    /// client that recovers (TEST_STATEID, FREE_STATEID, OPEN again) carries on. A courtesy client (its lease ran out)
    /// is expired as well, record and all. Null when no client has the id.
    /// </summary>
    public RevokeOutcome? RevokeClientState(ulong clientId)
    {
        if (server.Clients.FindClient(clientId) is not { } client)
            return null;
        var revoked = server.States.AdminRevoked;
        server.Offloads.CancelAll(client);
        int delegations = 0;
        foreach (var delegation in DelegationsOf(client))
        {
            if (server.Delegations.Release(delegation, RevokeReason.Administrator))
            {
                revoked.Add(delegation.Key, new(client, delegation.Id, "DELEGATION", delegation.FileId, delegation.File));
                delegations++;
            }
        }
        server.Recalls.Forget(client);
        int opens = 0, locks = 0;
        foreach (var open in server.States.OpensOf(client))
        {
            if (Volatile.Read(ref open.Closed))
                continue;
            foreach (var state in open.LockStates)
            {
                revoked.Add(state.Key, new(client, state.Id, "LOCK", open.FileId, open.File));
                locks++;
            }
            OpenRegistry.Close(server, open);
            revoked.Add(open.Key, new(client, open.Id, "OPEN", open.FileId, open.File));
            opens++;
        }
        Log.ClientStateRevoked(server.Logger, clientId, opens, locks, delegations);
        // A courtesy client's lease has run out: nobody will read the revoked flag, and it stays only for what it held.
        // It goes now, as knfsd's "expire" destroys a client, instead of staying listed, empty, for the courtesy time.
        bool expired = client.Courtesy && server.ExpireCourtesyClient(clientId, "the administrator revoked its state");
        return new RevokeOutcome(Hex(clientId), opens, locks, delegations, expired);
    }

    /// <summary>
    /// Recalls every delegation on the file at <paramref name="path"/> (inside the export, "/a/b" or "a/b"; no "." or
    /// ".." parts), as a conflicting change would, and returns at once: the holders get CB_RECALL and the engine's recall
    /// window keeps new delegations off the file for a while (<see cref="LeaseEngineOptions.DelegationRecallWindow"/>).
    /// The status is not Ok when the path does not name a file (NotFound, NotDirectory on the way, InvalidName for a "." or ".." part).
    /// </summary>
    public async ValueTask<(FsStatus Status, RecallOutcome? Outcome)> RecallAsync(string path, CancellationToken cancellationToken = default)
    {
        var found = Resolve(path);
        if (!found.IsOk)
            return (found.Status, null);
        var attributes = server.Tree.GetAttributes(found.Value);
        if (!attributes.IsOk)
            return (attributes.Status, null);
        if (attributes.Value.Type == FileType.Directory)
            return (FsStatus.IsDirectory, null); // delegations are on files: recalling "a directory" would recall nothing
        ulong fileId = attributes.Value.FileId;
        await server.Engine.BreakAsync(FileKey.From(fileId), FileOperation.SetAttributes, Owner.Anonymous, BreakMode.NonBlocking, cancellationToken).ConfigureAwait(false);
        int recalling = 0;
        foreach (var client in server.Clients.All())
        {
            lock (client.Sync)
            {
                // The engine's notices run off this thread, so a delegation may not say Recalling yet: every one still
                // held has been asked back by the break above.
                if (client.DelegationsByFile.TryGetValue(fileId, out var d) && d.CurrentStatus is DelegationStatus.Active or DelegationStatus.Recalling)
                    recalling++;
            }
        }
        string shown = server.Tree.PathOf(found.Value) ?? path;
        Log.FileRecalled(server.Logger, shown, fileId, recalling);
        return (FsStatus.Ok, new RecallOutcome(shown, fileId, recalling));
    }

    /// <summary>Walks <paramref name="path"/> from the export's root as root (the operator's view; no squashing, no permission checks beyond the tree's own).</summary>
    private FsResult<FileHandle> Resolve(string path)
    {
        var handle = server.Tree.RootHandle;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part is "." or "..")
                return FsStatus.InvalidName;
            var next = server.Tree.Lookup(Caller.Root, handle, part);
            if (!next.IsOk)
                return next.Status;
            handle = next.Value;
        }
        return handle;
    }

    private ClientView View(NfsClient client, List<OpenState> allOpens)
    {
        Session[] sessions;
        lock (client.Sync)
            sessions = [.. client.Sessions];
        string? address = null, lastAddress = null; // a live connection's, else one that ended (where a vanished client was)
        uint? minor = null;
        foreach (var session in sessions)
        {
            minor = session.Back.MinorVersion;
            lock (session.Sync)
            {
                foreach (var connection in session.Connections)
                {
                    string? at = connection.RemoteEndPoint switch
                    {
                        IPEndPoint ip => ip.ToString(),
                        { } other => other.ToString(),
                        null => null,
                    };
                    if (!connection.Closed.IsCancellationRequested)
                        address = at ?? address;
                    else
                        lastAddress ??= at;
                }
            }
        }
        address ??= lastAddress;
        var opens = allOpens.Where(o => o.Client == client).ToList();
        // Byte-range locks held, as `client show` lists them: a lock stateid of a process still waiting holds none.
        int locks = opens.Sum(o => HeldLocks(o).Count());
        long now = server.Time.GetTimestamp();
        var expires = server.Time.GetUtcNow() + TimeSpan.FromSeconds((double)(client.LastRenewed + server.Clients.LeaseTicks - now) / server.Time.TimestampFrequency);
        string state = client.Expired ? "expired" : client.Courtesy ? "courtesy" : client.Confirmed ? "active" : "unconfirmed";
        return new ClientView(Hex(client.ClientId), Printable(client.OwnerId), address, minor, state, expires, sessions.Length, client.HasUsableBackChannel(),
            opens.Count, locks, client.DelegationCount, Volatile.Read(ref client.RevokedDelegations) + Volatile.Read(ref client.AdminRevokedStates));
    }

    private static List<DelegationState> DelegationsOf(NfsClient client)
    {
        lock (client.Sync)
            return [.. client.DelegationsByFile.Values];
    }

    private static string TypeName(DelegationState d) => d.Type.ToString().ToUpperInvariant() + (d.TimestampsDelegated ? "+TIMESTAMPS" : "");

    private static string ShareName(Share share) => share switch
    {
        Share.Read => "READ",
        Share.Write => "WRITE",
        Share.Both => "BOTH",
        _ => "NONE",
    };

    /// <summary>The byte-range locks the open's lock stateids hold, each with its stateid (a waiting process's stateid holds none).</summary>
    private IEnumerable<(LockState State, RangeLock Lock)> HeldLocks(OpenState open)
    {
        if (open.LockStates is not { Length: > 0 } states)
            yield break;
        foreach (var l in server.RangeLocks.LocksOn(FileKey.From(open.FileId)))
        {
            if (Array.Find(states, state => !state.Freed && state.EngineOwner == l.Owner) is { } state)
                yield return (state, l);
        }
    }

    private static string RangeText(ulong start, ulong end) =>
        $"{start}-{(end == ulong.MaxValue ? "EOF" : end.ToString(System.Globalization.CultureInfo.InvariantCulture))}";

    private static string Hex(ulong id) => id.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// An owner string as an operator can read it: text when it is printable ASCII (Linux's client owner, "Linux NFSv4.2
    /// host"); a printable prefix of at least 4 characters and the rest in hex (Linux's open and lock owners, "open id:"
    /// or "lock id:" and 8 or 16 binary bytes: "lock id:0x00000000000000a1"); else all hex.
    /// </summary>
    internal static string Printable(byte[] owner)
    {
        int text = 0;
        while (text < owner.Length && owner[text] is >= 0x20 and <= 0x7e)
            text++;
        if (text == owner.Length)
            return Encoding.ASCII.GetString(owner);
        if (text < 4)
            return Convert.ToHexString(owner).ToLowerInvariant();
        return Encoding.ASCII.GetString(owner, 0, text) + "0x" + Convert.ToHexString(owner, text, owner.Length - text).ToLowerInvariant();
    }

    /// <summary>File paths by file id, each asked of the tree once per view.</summary>
    private sealed class PathCache(IExportedTree tree)
    {
        private readonly Dictionary<ulong, FileHandle> _handles = [];
        private readonly Dictionary<ulong, string?> _paths = [];

        public void Know(ulong fileId, FileHandle handle) => _handles.TryAdd(fileId, handle);

        public string? Of(ulong fileId, FileHandle handle)
        {
            Know(fileId, handle);
            return Of(fileId);
        }

        public string? Of(ulong fileId)
        {
            if (_paths.TryGetValue(fileId, out var path))
                return path;
            path = _handles.TryGetValue(fileId, out var handle) ? tree.PathOf(handle) : null;
            _paths[fileId] = path;
            return path;
        }
    }
}

/// <summary>Admin log events (ids 46xx).</summary>
internal static partial class Log
{
    [LoggerMessage(4601, LogLevel.Warning, "Administrator revoked the state of client {ClientId:x16}: {Opens} open(s), {Locks} lock state(s), {Delegations} delegation(s); its stateids now answer NFS4ERR_ADMIN_REVOKED")]
    public static partial void ClientStateRevoked(ILogger logger, ulong clientId, int opens, int locks, int delegations);

    [LoggerMessage(4602, LogLevel.Information, "Administrator recalled the delegations on {Path} (file {FileId}): {Recalling} being recalled")]
    public static partial void FileRecalled(ILogger logger, string path, ulong fileId, int recalling);
}
