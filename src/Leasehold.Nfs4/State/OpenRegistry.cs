using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.State;

/// <summary>
/// The open bookkeeping shared by OPEN, OPEN_DOWNGRADE, CLOSE and client expiry: share reservations (in
/// <see cref="FileShares"/>) and the matching opens registered with the lease engine, so grants are checked against them.
/// </summary>
internal static class OpenRegistry
{
    public static Owner EngineOwner(NfsClient client, OpenState open) => new(client.ClientId, open.Key.Low);

    public static OpenAccess ToEngine(Share access) => (OpenAccess)(uint)access;

    /// <summary>Opens (or upgrades the open of) <paramref name="owner"/> on <paramref name="file"/>; the open on success.</summary>
    public static async ValueTask<(NfsStat4 Status, OpenState? Open)> OpenAsync(Nfs4Server server, NfsClient client, byte[] owner, FileHandle file, ulong fileId, Share access, Share deny)
    {
        var table = server.States;
        var shares = table.SharesFor(fileId);
        OpenState? existing;
        Share newAccess, newDeny;
        lock (shares.Sync)
        {
            existing = shares.Opens.Find(o => !o.Closed && o.Client == client && o.OpenOwner.AsSpan().SequenceEqual(owner));
            newAccess = access | (existing?.Access ?? 0);
            newDeny = deny | (existing?.Deny ?? 0);
            if (shares.Conflicts(access, deny, existing))
                return (NfsStat4.ShareDenied, null);
        }

        // Register the open with the engine outside the share lock: the engine may need to recall a grant (DELAY).
        var key = existing?.Key ?? table.NewKey();
        var engineOwner = new Owner(client.ClientId, key.Low); // the same identity EngineOwner gives once the open exists
        var added = newAccess & ~(existing?.Access ?? 0);
        if (added != 0)
        {
            var opened = await server.Engine.OpenAsync(FileKey.From(fileId), engineOwner, ToEngine(added), BreakMode.NonBlocking).ConfigureAwait(false);
            if (!opened.CanProceed)
                return (NfsStat4.Delay, null);
        }

        lock (shares.Sync)
        {
            // Re-check: another OPEN may have taken a conflicting reservation while the engine was asked.
            if (shares.Conflicts(access, deny, existing))
            {
                if (added != 0)
                    server.Engine.Close(FileKey.From(fileId), engineOwner, ToEngine(added));
                return (NfsStat4.ShareDenied, null);
            }
            var open = existing ?? new OpenState(key, client, owner, file, fileId);
            if (existing is null)
            {
                shares.Opens.Add(open);
                table.Add(open);
            }
            open.Access = newAccess;
            open.Deny = newDeny;
            open.AccessEverAsked |= access;
            open.DenyEverAsked |= deny;
            open.SeqId++;
            return (NfsStat4.Ok, open);
        }
    }

    /// <summary>Closes an open: drops its reservation and its engine registrations.</summary>
    public static void Close(Nfs4Server server, OpenState open)
    {
        var shares = server.States.SharesFor(open.FileId);
        Share registered;
        lock (shares.Sync)
        {
            if (open.Closed)
                return;
            open.Closed = true;
            registered = open.Access;
        }
        foreach (var lockState in server.States.LocksOf(open))
        {
            server.RangeLocks.UnlockAll(FileKey.From(open.FileId), lockState.EngineOwner);
            server.States.Free(lockState);
        }
        server.States.Remove(open);
        ReleaseEngineAccess(server, open, registered);
    }

    /// <summary>Closes the engine opens behind the access bits an open gives up (CLOSE, OPEN_DOWNGRADE).</summary>
    public static void ReleaseEngineAccess(Nfs4Server server, OpenState open, Share dropped)
    {
        var owner = EngineOwner(open.Client, open);
        foreach (var bit in new[] { Share.Read, Share.Write })
        {
            if ((dropped & bit) != 0)
                server.Engine.Close(FileKey.From(open.FileId), owner, ToEngine(bit));
        }
    }
}
