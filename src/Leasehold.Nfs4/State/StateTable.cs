using System.Collections.Concurrent;
using Leasehold.Export;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.State;

/// <summary>Share access and deny bits (OPEN4_SHARE_ACCESS_*, OPEN4_SHARE_DENY_*).</summary>
[Flags]
internal enum Share : uint
{
    None = 0,
    Read = 1,
    Write = 2,
    Both = 3,
}

/// <summary>
/// An open (RFC 8881 §9.1.4): one per client, open-owner and file, whatever the number of OPENs; each OPEN or
/// OPEN_DOWNGRADE bumps its seqid. Mutable fields are guarded by the <see cref="FileShares"/> lock of its file.
/// </summary>
internal sealed class OpenState(StateKey key, NfsClient client, byte[] owner, FileHandle file, ulong fileId)
{
    public StateKey Key { get; } = key;

    public NfsClient Client { get; } = client;

    /// <summary>When the first OPEN made it (the server's clock): the age `leasehold locks` shows for its share reservation.</summary>
    public DateTimeOffset Opened { get; init; }

    public byte[] OpenOwner { get; } = owner;

    public FileHandle File { get; } = file;

    public ulong FileId { get; } = fileId;

    public uint SeqId;

    public Share Access;

    public Share Deny;

    /// <summary>
    /// The (access, deny) pairs of the OPENs in effect on this open stateid, one bit each (bit access * 4 + deny), as
    /// knfsd's st_access_bmap/st_deny_bmap: OPEN_DOWNGRADE may only go to the union of some of them (§18.18.3).
    /// </summary>
    public ushort SharesAsked;

    /// <summary>Records an OPEN's (access, deny) pair in <see cref="SharesAsked"/>.</summary>
    public void RecordOpen(Share access, Share deny) => SharesAsked |= (ushort)(1 << ((int)access * 4 + (int)deny));

    /// <summary>
    /// Whether (access, deny) is the union of the access and deny of some subset of the OPENs in effect (RFC 8881
    /// §18.18.3). The pairs that fit inside (access, deny) form the largest candidate subset: if any subset's union is
    /// exactly (access, deny), so is theirs.
    /// </summary>
    public bool IsUnionOfOpens(Share access, Share deny)
    {
        Share a = Share.None, d = Share.None;
        for (int bit = 0; bit < 16; bit++)
        {
            if ((SharesAsked & (1 << bit)) == 0)
                continue;
            var pa = (Share)(bit / 4);
            var pd = (Share)(bit % 4);
            if ((pa & ~access) == 0 && (pd & ~deny) == 0)
            {
                a |= pa;
                d |= pd;
            }
        }
        return a == access && d == deny;
    }

    /// <summary>After a downgrade to (access, deny), only the OPENs inside it remain in effect.</summary>
    public void KeepOpensWithin(Share access, Share deny)
    {
        for (int bit = 0; bit < 16; bit++)
        {
            if (((Share)(bit / 4) & ~access) != 0 || ((Share)(bit % 4) & ~deny) != 0)
                SharesAsked &= (ushort)~(1 << bit);
        }
        RecordOpen(access, deny); // the downgraded open is one OPEN's worth from here on
    }

    public bool Closed;

    /// <summary>Made by a reclaim (OPEN CLAIM_PREVIOUS and the PREV delegation claims) during the grace period: LOCK may reclaim under it (§8.4.2.1).</summary>
    public bool Reclaimed;

    /// <summary>
    /// Keeps the file reachable through its handle after another client or a local process removes its last name, until
    /// this open closes (OPEN4_RESULT_PRESERVE_UNLINKED, §18.16.3). Null when the export could not pin it.
    /// </summary>
    public FilePin? Pin;

    public StateId Id => new(SeqId, Key.High, Key.Low);

    private LockState[] _lockStates = [];

    /// <summary>
    /// The lock states born from this open (§9.1.4), so CLOSE and LOCK look at this open's few instead of every lock state
    /// of the server. A snapshot: safe to enumerate while lock states come and go.
    /// </summary>
    public LockState[] LockStates => Volatile.Read(ref _lockStates);

    /// <summary>This lock-owner's lock state under this open, if it has one.</summary>
    public LockState? FindLockState(ReadOnlySpan<byte> lockOwner)
    {
        foreach (var l in LockStates)
        {
            if (!l.Freed && l.LockOwner.AsSpan().SequenceEqual(lockOwner))
                return l;
        }
        return null;
    }

    /// <summary>Adds <paramref name="candidate"/> unless its lock-owner got one meanwhile; returns the one that stands.</summary>
    public LockState AddLockState(LockState candidate)
    {
        while (true)
        {
            var current = Volatile.Read(ref _lockStates);
            foreach (var l in current)
            {
                if (!l.Freed && l.LockOwner.AsSpan().SequenceEqual(candidate.LockOwner))
                    return l;
            }
            LockState[] next = [.. current, candidate];
            if (Interlocked.CompareExchange(ref _lockStates, next, current) == current)
                return candidate;
        }
    }

    /// <summary>Forgets a freed lock state.</summary>
    public void RemoveLockState(LockState state)
    {
        while (true)
        {
            var current = Volatile.Read(ref _lockStates);
            int at = Array.IndexOf(current, state);
            if (at < 0)
                return;
            LockState[] next = current.Length == 1 ? [] : [.. current.AsSpan(0, at), .. current.AsSpan(at + 1)];
            if (Interlocked.CompareExchange(ref _lockStates, next, current) == current)
                return;
        }
    }
}

/// <summary>
/// Byte-range lock state (RFC 8881 §9.1.4): one per client, lock-owner and file, born from an open. The ranges
/// themselves live in the engine's <see cref="Engine.RangeLockTable"/>; this is the stateid and who it belongs to.
/// </summary>
internal sealed class LockState(StateKey key, OpenState open, byte[] owner)
{
    public StateKey Key { get; } = key;

    public OpenState Open { get; } = open;

    public NfsClient Client => Open.Client;

    public byte[] LockOwner { get; } = owner;

    public uint SeqId;

    public bool Freed;

    public StateId Id => new(SeqId, Key.High, Key.Low);

    /// <summary>The engine identity of this lock-owner's locks.</summary>
    public Engine.Owner EngineOwner => new(Client.ClientId, Key.Low);
}

/// <summary>The 12-byte "other" of a stateid, as a dictionary key.</summary>
internal readonly record struct StateKey(ulong High, uint Low);

/// <summary>
/// The opens of one file, for share reservations (§9.7), and the reads and writes in progress that no open covers
/// (special stateids, a READ through a write-only open), so an OPEN denying them cannot slip in while they run
/// (§9.1.2). Guarded by its own lock. Once nothing uses it, it is retired: taken out of the <see cref="StateTable"/>
/// under its lock, after which whoever locks it must fetch the file's live one again (<see cref="StateTable.SharesFor"/>).
/// </summary>
internal sealed class FileShares(ulong fileId)
{
    public readonly Lock Sync = new();

    public ulong FileId { get; } = fileId;

    public List<OpenState> Opens { get; } = [];

    /// <summary>READs in progress that no open with read access covers.</summary>
    public int UnreservedReads;

    /// <summary>WRITEs and size changes in progress under a special stateid.</summary>
    public int UnreservedWrites;

    /// <summary>Set (under the lock) when this table left the <see cref="StateTable"/>; a retired table is never used again.</summary>
    public bool Retired;

    /// <summary>The live open of this client's open-owner among <see cref="Opens"/>, if any; call under <see cref="Sync"/>.</summary>
    public OpenState? FindOpen(NfsClient client, ReadOnlySpan<byte> owner)
    {
        foreach (var o in Opens)
        {
            if (!o.Closed && o.Client == client && o.OpenOwner.AsSpan().SequenceEqual(owner))
                return o;
        }
        return null;
    }

    public bool IsUnused => Opens.Count == 0 && UnreservedReads == 0 && UnreservedWrites == 0;

    /// <summary>Whether an open asking for <paramref name="access"/>/<paramref name="deny"/> collides with another open-owner's reservation.</summary>
    public bool Conflicts(Share access, Share deny, OpenState? except) => Denies(access, except) || Holds(deny, except);

    /// <summary>
    /// The clients whose opens conflict with <paramref name="access"/>/<paramref name="deny"/> (as <see cref="Conflicts"/>
    /// counts them), if every such open is a courtesy client's; null if an active client's open is among them or none
    /// conflicts. Call under <see cref="Sync"/>.
    /// </summary>
    public List<NfsClient>? CourtesyConflicts(Share access, Share deny, OpenState? except)
    {
        List<NfsClient>? holders = null;
        foreach (var o in Opens)
        {
            if (o == except || o.Closed || ((access & o.Deny) == 0 && (deny & o.Access) == 0))
                continue;
            if (!o.Client.Courtesy)
                return null;
            if (holders is null || !holders.Contains(o.Client))
                (holders ??= []).Add(o.Client);
        }
        return holders;
    }

    /// <summary>Whether an open other than <paramref name="except"/> denies any of <paramref name="access"/>.</summary>
    public bool Denies(Share access, OpenState? except)
    {
        foreach (var o in Opens)
        {
            if (o != except && !o.Closed && (access & o.Deny) != 0)
                return true;
        }
        return false;
    }

    /// <summary>Whether an open other than <paramref name="except"/> has any of <paramref name="access"/>.</summary>
    private bool Holds(Share access, OpenState? except)
    {
        foreach (var o in Opens)
        {
            if (o != except && !o.Closed && (access & o.Access) != 0)
                return true;
        }
        return false;
    }

    /// <summary>Whether I/O no open covers is in progress for an access <paramref name="deny"/> would deny.</summary>
    public bool UnreservedIoBlocks(Share deny) =>
        ((deny & Share.Read) != 0 && UnreservedReads > 0) || ((deny & Share.Write) != 0 && UnreservedWrites > 0);
}

/// <summary>
/// A READ or WRITE in progress that no open covers, registered with its file's <see cref="FileShares"/> by
/// <see cref="StateTable.BeginUnreservedIo"/>; disposing it (once) ends the registration. The default value registers nothing.
/// </summary>
internal readonly struct UnreservedIo(StateTable? table, FileShares? shares, Share access) : IDisposable
{
    public void Dispose()
    {
        if (shares is not null)
            table!.EndUnreservedIo(shares, access);
    }
}

/// <summary>
/// Every stateid this server has handed out, by its "other" part, and the share reservations per file. Stateids carry
/// the server's boot verifier in their high bytes, so one from an earlier run is recognised as stale, not misread.
/// </summary>
internal sealed class StateTable(ulong boot)
{
    private readonly ConcurrentDictionary<StateKey, OpenState> _opens = new();
    private readonly ConcurrentDictionary<StateKey, LockState> _locks = new();
    private readonly ConcurrentDictionary<ulong, FileShares> _shares = new();
    private readonly ConcurrentDictionary<StateKey, DelegationState> _delegations = new();
    private uint _next;

    public int OpenCount => _opens.Count;

    /// <summary>Stateids an administrator revoked, until their client frees them: lookups of them answer ADMIN_REVOKED.</summary>
    public AdminRevokedStates AdminRevoked { get; } = new();

    /// <summary>Every open not yet closed, for the admin views (a moment's copy).</summary>
    public List<OpenState> AllOpens() => [.. _opens.Values.Where(o => !o.Closed)];

    public StateKey NewKey() => new(boot, Interlocked.Increment(ref _next));

    /// <summary>
    /// The file's share table, made if missing. It may be retired before the caller locks it: check
    /// <see cref="FileShares.Retired"/> under the lock and fetch again if so.
    /// </summary>
    public FileShares SharesFor(ulong fileId) => _shares.GetOrAdd(fileId, static id => new FileShares(id));

    public void Add(OpenState open) => _opens[open.Key] = open;

    public void Add(DelegationState delegation) => _delegations[delegation.Key] = delegation;

    public void Remove(DelegationState delegation) => _delegations.TryRemove(new KeyValuePair<StateKey, DelegationState>(delegation.Key, delegation));

    /// <summary>Whether this stateid names a delegation (as opposed to an open, a lock or nothing we know).</summary>
    public bool IsDelegationKey(StateId id) => _delegations.ContainsKey(new StateKey(id.OtherHigh, id.OtherLow));

    /// <summary>
    /// Resolves a stateid to a delegation of <paramref name="client"/> (RFC 8881 §8.2.4): unknown, returned or another
    /// client's → BAD_STATEID, from an earlier server run → STALE_STATEID, a seqid other than 0 or 1 → BAD_STATEID
    /// (delegation stateids never change), revoked by the server → DELEG_REVOKED (§8.2.4). The revoked one is still
    /// returned in <paramref name="delegation"/>, for FREE_STATEID.
    /// </summary>
    public NfsStat4 FindDelegation(StateId id, NfsClient? client, out DelegationState? delegation)
    {
        delegation = null;
        var status = CheckOther(id);
        if (status != NfsStat4.Ok)
            return status;
        if (!_delegations.TryGetValue(new StateKey(id.OtherHigh, id.OtherLow), out var found) || found.CurrentStatus == DelegationStatus.Returned)
            return NotFound(id, client);
        status = CheckOwnerAndSeqId(id, found.Client, client, 1);
        if (status == NfsStat4.OldStateId)
            status = NfsStat4.BadStateId;
        if (status != NfsStat4.Ok)
            return status;
        delegation = found;
        return found.CurrentStatus == DelegationStatus.Revoked ? NfsStat4.DelegRevoked : NfsStat4.Ok;
    }

    public void Remove(OpenState open)
    {
        _opens.TryRemove(open.Key, out _);
        if (_shares.TryGetValue(open.FileId, out var shares))
        {
            lock (shares.Sync)
            {
                shares.Opens.Remove(open);
                RetireIfUnused(shares);
            }
        }
    }

    /// <summary>
    /// Registers a READ (<paramref name="access"/> Read) or a WRITE/truncation (Write) that no open covers, unless an
    /// open other than <paramref name="except"/> denies that access (false: NFS4ERR_LOCKED, §9.1.2). The check and the
    /// registration happen under the lock OPEN registers reservations under, so no conflicting OPEN gets between
    /// them; until <paramref name="io"/> is disposed such an OPEN answers NFS4ERR_DELAY.
    /// </summary>
    public bool BeginUnreservedIo(ulong fileId, Share access, OpenState? except, out UnreservedIo io)
    {
        while (true)
        {
            var shares = SharesFor(fileId);
            lock (shares.Sync)
            {
                if (shares.Retired)
                    continue;
                if (shares.Denies(access, except))
                {
                    io = default;
                    return false;
                }
                if ((access & Share.Read) != 0)
                    shares.UnreservedReads++;
                if ((access & Share.Write) != 0)
                    shares.UnreservedWrites++;
                io = new UnreservedIo(this, shares, access);
                return true;
            }
        }
    }

    /// <summary>
    /// The courtesy clients whose deny reservations alone refuse <paramref name="access"/> on the file (as
    /// <see cref="FileShares.CourtesyConflicts"/>), or null.
    /// </summary>
    public List<NfsClient>? CourtesyDenying(ulong fileId, Share access)
    {
        if (!_shares.TryGetValue(fileId, out var shares))
            return null;
        lock (shares.Sync)
            return shares.CourtesyConflicts(access, Share.None, except: null);
    }

    internal void EndUnreservedIo(FileShares shares, Share access)
    {
        lock (shares.Sync)
        {
            if ((access & Share.Read) != 0)
                shares.UnreservedReads--;
            if ((access & Share.Write) != 0)
                shares.UnreservedWrites--;
            RetireIfUnused(shares);
        }
    }

    /// <summary>Takes an unused share table out of the table. Call under its lock.</summary>
    private void RetireIfUnused(FileShares shares)
    {
        if (!shares.IsUnused || shares.Retired)
            return;
        shares.Retired = true;
        _shares.TryRemove(new KeyValuePair<ulong, FileShares>(shares.FileId, shares));
    }

    /// <summary>
    /// Resolves a stateid to an open of <paramref name="client"/> (RFC 8881 §8.2.4 and §9.1.3): unknown or another
    /// client's → BAD_STATEID, from an earlier server run → STALE_STATEID, older seqid → OLD_STATEID, newer →
    /// BAD_STATEID. A seqid of 0 means "whatever is current".
    /// </summary>
    public NfsStat4 FindOpen(StateId id, NfsClient? client, out OpenState? open)
    {
        open = null;
        var status = CheckOther(id);
        if (status != NfsStat4.Ok)
            return status;
        if (!_opens.TryGetValue(new StateKey(id.OtherHigh, id.OtherLow), out var found) || found.Closed)
            return NotFound(id, client);
        status = CheckOwnerAndSeqId(id, found.Client, client, Volatile.Read(ref found.SeqId));
        if (status == NfsStat4.Ok)
            open = found;
        return status;
    }

    public NfsStat4 FindLock(StateId id, NfsClient? client, out LockState? state)
    {
        state = null;
        var status = CheckOther(id);
        if (status != NfsStat4.Ok)
            return status;
        if (!_locks.TryGetValue(new StateKey(id.OtherHigh, id.OtherLow), out var found) || found.Freed)
            return NotFound(id, client);
        status = CheckOwnerAndSeqId(id, found.Client, client, Volatile.Read(ref found.SeqId));
        if (status == NfsStat4.Ok)
            state = found;
        return status;
    }

    /// <summary>A stateid of this run that names no live state: ADMIN_REVOKED when an administrator took it, else BAD_STATEID.</summary>
    private NfsStat4 NotFound(StateId id, NfsClient? client) =>
        AdminRevoked.Contains(new StateKey(id.OtherHigh, id.OtherLow), client) ? NfsStat4.AdminRevoked : NfsStat4.BadStateId;

    /// <summary>Special stateids name no state here; one made by an earlier run of the server is stale, not unknown.</summary>
    private NfsStat4 CheckOther(StateId id)
    {
        if (id.IsSpecial)
            return NfsStat4.BadStateId;
        if (id.OtherHigh != boot)
            return (id.OtherHigh >> 32) != 0 ? NfsStat4.StaleStateId : NfsStat4.BadStateId;
        return NfsStat4.Ok;
    }

    /// <summary>§8.2.4: another client's stateid is BAD_STATEID; an older seqid OLD_STATEID, a newer one BAD_STATEID, 0 "current".</summary>
    private static NfsStat4 CheckOwnerAndSeqId(StateId id, NfsClient owner, NfsClient? caller, uint current)
    {
        if (caller is not null && owner != caller)
            return NfsStat4.BadStateId;
        if (id.SeqId != 0 && id.SeqId < current)
            return NfsStat4.OldStateId;
        return id.SeqId > current ? NfsStat4.BadStateId : NfsStat4.Ok;
    }

    /// <summary>Whether this stateid names a lock state (as opposed to an open or nothing we know).</summary>
    public bool IsLockKey(StateId id) => _locks.ContainsKey(new StateKey(id.OtherHigh, id.OtherLow));

    /// <summary>The lock state of this lock-owner on the open's file, made if missing.</summary>
    public LockState LockStateFor(OpenState open, byte[] owner)
    {
        if (open.FindLockState(owner) is { } existing)
            return existing;
        var made = open.AddLockState(new LockState(NewKey(), open, owner));
        _locks[made.Key] = made;
        return made;
    }

    /// <summary>This client's lock-owner's lock state on the file (under any of the client's opens of it), if any.</summary>
    public LockState? FindLockOwner(NfsClient client, byte[] owner, ulong fileId)
    {
        if (!_shares.TryGetValue(fileId, out var shares))
            return null;
        lock (shares.Sync)
        {
            foreach (var open in shares.Opens)
            {
                if (open.Client == client && open.FindLockState(owner) is { } found)
                    return found;
            }
        }
        return null;
    }

    /// <summary>The lock state behind an engine lock owner (<see cref="LockState.EngineOwner"/>), to tell a denied locker who holds the range.</summary>
    public LockState? LockStateOf(Engine.Owner owner) =>
        owner.Id <= uint.MaxValue && _locks.TryGetValue(new StateKey(boot, (uint)owner.Id), out var found) && found.Client.ClientId == owner.Group
            ? found
            : null;

    public void Free(LockState state)
    {
        state.Freed = true;
        _locks.TryRemove(state.Key, out _);
        state.Open.RemoveLockState(state);
    }

    /// <summary>The open of this client's open-owner on the file, if any.</summary>
    public OpenState? FindOpen(NfsClient client, byte[] owner, ulong fileId)
    {
        if (!_shares.TryGetValue(fileId, out var shares))
            return null;
        lock (shares.Sync)
            return shares.FindOpen(client, owner);
    }

    /// <summary>All opens of a client, to drop when the client goes.</summary>
    public List<OpenState> OpensOf(NfsClient client) => [.. _opens.Values.Where(o => o.Client == client)];

    /// <summary>
    /// Whether the client holds opens (and so perhaps locks, which live under opens) or delegations (revoked ones not yet
    /// freed included): DESTROY_CLIENTID is then CLIENTID_BUSY (§18.50.3). We grant no layouts, so there is no other state.
    /// </summary>
    public bool HoldsState(NfsClient client) =>
        _opens.Values.Any(o => o.Client == client && !o.Closed) || client.DelegationCount > 0;
}
