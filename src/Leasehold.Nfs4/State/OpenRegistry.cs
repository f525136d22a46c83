using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.State;

/// <summary>
/// The open bookkeeping shared by OPEN, OPEN_DOWNGRADE, CLOSE and client expiry: share reservations (in
/// <see cref="FileShares"/>) and the matching opens registered with the lease engine, so grants are checked against them.
/// </summary>
internal static class OpenRegistry
{
    /// <summary>At most this many rounds of expiring courtesy clients for one OPEN.</summary>
    private const int MaxCourtesyExpiries = 4;

    public static Owner EngineOwner(NfsClient client, OpenState open) => new(client.ClientId, open.Key.Low);

    public static OpenAccess ToEngine(Share access) => (OpenAccess)(uint)access;

    /// <summary>
    /// Opens (or upgrades the open of) <paramref name="owner"/> on <paramref name="file"/>; the open on success.
    /// SHARE_DENIED when another open-owner's reservation conflicts (§9.7); DELAY while the engine recalls a grant, or
    /// while I/O that the asked deny mode would refuse is in progress under a special stateid (§9.1.2). A new open pins
    /// the file, so it stays reachable until CLOSE even if its last name is removed.
    /// </summary>
    public static async ValueTask<(NfsStat4 Status, OpenState? Open)> OpenAsync(Nfs4Server server, NfsClient client, byte[] owner, FileHandle file, ulong fileId, Share access, Share deny)
    {
        var table = server.States;
        OpenState? existing;
        Share newAccess, newDeny;
        int courtesyExpiries = 0;
        while (true)
        {
            var shares = table.SharesFor(fileId);
            List<NfsClient>? inTheWay;
            lock (shares.Sync)
            {
                if (shares.Retired)
                    continue;
                existing = shares.FindOpen(client, owner);
                newAccess = access | (existing?.Access ?? 0);
                newDeny = deny | (existing?.Deny ?? 0);
                var admitted = Admit(shares, access, deny, existing);
                if (admitted == NfsStat4.Ok)
                    break;
                inTheWay = admitted == NfsStat4.ShareDenied ? shares.CourtesyConflicts(access, deny, existing) : null;
                if (inTheWay is null || courtesyExpiries++ >= MaxCourtesyExpiries)
                    return (admitted, null);
            }
            // Only courtesy clients' reservations stand in the way: they go (§8.4.3), outside the share lock (their
            // opens close through it), and the OPEN is admitted again.
            bool expired = false;
            foreach (var holder in inTheWay)
                expired |= server.ExpireCourtesyClient(holder.ClientId, "another client's open conflicts with its share reservation");
            if (!expired)
                return (NfsStat4.ShareDenied, null);
        }

        // Pin and register the open with the engine outside the share lock: the engine may need to recall a grant (DELAY).
        FilePin? pin = existing?.Pin is null && server.Tree.Pin(file) is { IsOk: true } pinned ? pinned.Value : null;
        var key = existing?.Key ?? table.NewKey();
        var engineOwner = new Owner(client.ClientId, key.Low); // the same identity EngineOwner gives once the open exists
        var added = newAccess & ~(existing?.Access ?? 0);
        if (added != 0)
        {
            var opened = await server.Engine.OpenAsync(FileKey.From(fileId), engineOwner, ToEngine(added), BreakMode.NonBlocking).ConfigureAwait(false);
            if (!opened.CanProceed)
            {
                pin?.Dispose();
                return (NfsStat4.Delay, null);
            }
        }

        OpenState open;
        while (true)
        {
            var shares = table.SharesFor(fileId);
            lock (shares.Sync)
            {
                if (shares.Retired)
                    continue;
                // Re-check: another OPEN (or special-stateid I/O) may have come in while the engine was asked, or a
                // CLOSE of the open being upgraded (the client may retry and get a new open).
                var admitted = existing is { Closed: true } ? NfsStat4.Delay : Admit(shares, access, deny, existing);
                if (admitted != NfsStat4.Ok)
                {
                    if (added != 0)
                        server.Engine.Close(FileKey.From(fileId), engineOwner, ToEngine(added));
                    pin?.Dispose();
                    return (admitted, null);
                }
                open = existing ?? new OpenState(key, client, owner, file, fileId) { Opened = server.Time.GetUtcNow() };
                if (existing is null)
                {
                    shares.Opens.Add(open);
                    table.Add(open);
                }
                if (open.Pin is null)
                    open.Pin = pin;
                else
                    pin?.Dispose();
                open.Access = newAccess;
                open.Deny = newDeny;
                open.RecordOpen(access, deny);
                open.SeqId++;
                break;
            }
        }

        // A client destroyed (or expired) while this OPEN ran has had its opens closed already; this one must go too.
        if (client.Expired)
        {
            Close(server, open);
            return (NfsStat4.StaleClientId, null);
        }
        return (NfsStat4.Ok, open);
    }

    /// <summary>
    /// Admits the truncation an UNCHECKED4 OPEN of an existing file asks for (a size in its attributes) before it happens:
    /// it is a write, so an open of another open-owner that denies writes refuses it with SHARE_DENIED, as it refuses the
    /// OPEN itself (§9.7), and until <paramref name="io"/> is disposed it is registered like special-stateid I/O, so no
    /// OPEN denying writes gets in meanwhile (§9.1.2). The open-owner's own open does not stand in its way.
    /// </summary>
    public static NfsStat4 BeginTruncate(Nfs4Server server, NfsClient client, byte[] owner, FileHandle file, out UnreservedIo io)
    {
        io = default;
        var attrs = server.Tree.GetAttributes(file);
        if (!attrs.IsOk)
            return attrs.Status.ToNfs();
        var own = server.States.FindOpen(client, owner, attrs.Value.FileId);
        return server.States.BeginUnreservedIo(attrs.Value.FileId, Share.Write, own, out io) ? NfsStat4.Ok : NfsStat4.ShareDenied;
    }

    private static NfsStat4 Admit(FileShares shares, Share access, Share deny, OpenState? existing)
    {
        if (shares.Conflicts(access, deny, existing))
            return NfsStat4.ShareDenied;
        return shares.UnreservedIoBlocks(deny) ? NfsStat4.Delay : NfsStat4.Ok;
    }

    /// <summary>Closes an open: drops its reservation, its locks, its engine registrations and its pin on the file.</summary>
    public static void Close(Nfs4Server server, OpenState open)
    {
        if (Volatile.Read(ref open.Closed))
            return; // closed already (its share table may be gone with it)
        var shares = server.States.SharesFor(open.FileId);
        Share registered;
        FilePin? pin;
        lock (shares.Sync)
        {
            if (open.Closed)
                return;
            open.Closed = true;
            registered = open.Access;
            pin = open.Pin;
            open.Pin = null;
        }
        foreach (var lockState in open.LockStates)
        {
            server.RangeLocks.UnlockAll(FileKey.From(open.FileId), lockState.EngineOwner);
            server.States.Free(lockState);
        }
        server.States.Remove(open);
        ReleaseEngineAccess(server, open, registered);
        pin?.Dispose();
    }

    /// <summary>Closes the engine opens behind the access bits an open gives up (CLOSE, OPEN_DOWNGRADE).</summary>
    public static void ReleaseEngineAccess(Nfs4Server server, OpenState open, Share dropped)
    {
        var owner = EngineOwner(open.Client, open);
        if ((dropped & Share.Read) != 0)
            server.Engine.Close(FileKey.From(open.FileId), owner, ToEngine(Share.Read));
        if ((dropped & Share.Write) != 0)
            server.Engine.Close(FileKey.From(open.FileId), owner, ToEngine(Share.Write));
    }
}
