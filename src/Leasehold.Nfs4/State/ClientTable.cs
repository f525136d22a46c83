using System.Collections.Concurrent;
using System.Security.Cryptography;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State.Recovery;

namespace Leasehold.Nfs4.State;

/// <summary>
/// Client records and their sessions. EXCHANGE_ID and CREATE_SESSION decide which records exist under one lock
/// (<see cref="_records"/>): they are rare, and RFC 8881 §18.35.5's cases are about several records at once. The hot
/// path (SEQUENCE) only reads <see cref="_sessions"/>, a concurrent dictionary, and then locks the one session.
/// <paramref name="holdsState"/> says whether a client holds opens, locks or other state (the state tables are not
/// kept here), for DESTROY_CLIENTID. <paramref name="grace"/> says whether a new record may reclaim (§8.4.2.1).
/// </summary>
internal sealed class ClientTable(Nfs4Options options, TimeProvider time, Func<NfsClient, bool> holdsState, GracePeriod? grace = null)
{
    private readonly Lock _records = new();
    private readonly Dictionary<ulong, NfsClient> _byId = [];
    private readonly List<NfsClient> _all = [];
    private readonly ConcurrentDictionary<SessionKey, Session> _sessions = new();
    private readonly uint _boot = (uint)time.GetUtcNow().ToUnixTimeSeconds();
    // Starts at a random point, as Linux nfsd does: two runs within the same second must not hand out the same ids,
    // or a client id from before a restart would be taken for another client's (instead of STALE_CLIENTID).
    private uint _nextClient = (uint)RandomNumberGenerator.GetInt32(int.MaxValue);
    private uint _nextSession;

    /// <summary>Raised (outside every lock) when a client record is destroyed or expires, so its opens and locks are dropped.</summary>
    public event Action<NfsClient>? ClientGone;

    public long LeaseTicks { get; } = (long)(options.LeaseTime.TotalSeconds * time.TimestampFrequency);

    public int SessionCount => _sessions.Count;

    // ---------------------------------------------------------------- EXCHANGE_ID (RFC 8881 §18.35.5)

    public NfsStat4 ExchangeId(byte[] ownerId, ulong verifier, string principal, bool update, out NfsClient? client)
    {
        client = null;
        var gone = new List<NfsClient>();
        long now = time.GetTimestamp();
        NfsStat4 status;
        lock (_records)
        {
            NfsClient? confirmed = null, unconfirmed = null;
            foreach (var c in _all)
            {
                if (!c.OwnerId.AsSpan().SequenceEqual(ownerId))
                    continue;
                if (c.Confirmed)
                    confirmed = c;
                else
                    unconfirmed = c;
            }

            if (update)
            {
                // Cases 6-8: an update needs a confirmed record with the same verifier and principal.
                if (confirmed is null)
                    status = NfsStat4.NoEnt;
                else if (confirmed.Verifier != verifier)
                    status = NfsStat4.NotSame;
                else if (confirmed.Principal != principal)
                    status = NfsStat4.Perm;
                else
                {
                    client = confirmed;
                    status = NfsStat4.Ok;
                }
            }
            else if (confirmed is not null && confirmed.Verifier == verifier && confirmed.Principal == principal)
            {
                client = confirmed; // case 2: the same client again
                status = NfsStat4.Ok;
            }
            else if (confirmed is not null && confirmed.Principal != principal && HasState(confirmed, now))
            {
                status = NfsStat4.ClidInUse; // case 3: another principal while the record still has state
            }
            else
            {
                // Case 1 (new), 4 (the client rebooted: new verifier) or 5 (replace an unconfirmed record). The old confirmed
                // record stays until the new one is confirmed by CREATE_SESSION.
                if (unconfirmed is not null)
                    Remove(unconfirmed, gone);
                if (confirmed is not null && confirmed.Principal != principal)
                    Remove(confirmed, gone);
                // During grace, a recorded client's name and principal make a reclaimer, which inherits the record once
                // confirmed (an unconfirmed one that is replaced must not remove the row).
                bool reclaimer = grace?.RoleOf(ownerId, principal) == ReclaimRole.Reclaimer;
                client = new NfsClient(NewClientId(), ownerId, verifier, principal, now) { Reclaimer = reclaimer };
                _byId[client.ClientId] = client;
                _all.Add(client);
                status = NfsStat4.Ok;
            }
        }
        Announce(gone);
        return status;
    }

    /// <summary>The reclaimers that still exist (for the end of grace).</summary>
    public List<NfsClient> Reclaimers()
    {
        lock (_records)
            return _all.FindAll(c => c.Reclaimer && !c.Expired);
    }

    /// <summary>Confirmed clients past their RECLAIM_COMPLETE whose row could not be written (a full disk): retried by the heartbeat.</summary>
    public List<NfsClient> Unrecorded()
    {
        lock (_records)
        {
            return _all.FindAll(c =>
            {
                lock (c.Sync)
                    return c.Confirmed && c.ReclaimComplete && !c.Recorded && !c.Expired;
            });
        }
    }

    private bool HasLiveState(NfsClient client, long now) => now - client.LastRenewed < LeaseTicks;

    /// <summary>
    /// Sessions, or opens and locks under an unexpired lease: a record with state is not replaced by another principal's
    /// (§18.35.5 case 3) nor destroyed by DESTROY_CLIENTID (§18.50.3).
    /// </summary>
    private bool HasState(NfsClient client, long now)
    {
        lock (client.Sync)
        {
            if (client.Sessions.Count > 0)
                return true;
        }
        return HasLiveState(client, now) && holdsState(client);
    }

    // ---------------------------------------------------------------- CREATE_SESSION (§18.36.4)

    public enum CreateSessionCheck
    {
        New,
        Replay,
    }

    /// <summary>Finds the client and checks csa_sequence. On Replay, the cached reply is in the client record.</summary>
    public NfsStat4 BeginCreateSession(ulong clientId, uint sequence, string principal, out NfsClient? client, out CreateSessionCheck check)
    {
        check = CreateSessionCheck.New;
        lock (_records)
        {
            if (!_byId.TryGetValue(clientId, out client) || client.Expired)
            {
                client = null;
                return NfsStat4.StaleClientId;
            }
            if (!client.Confirmed && client.Principal != principal)
                return NfsStat4.ClidInUse; // §18.36.4: only the principal that made an unconfirmed record may confirm it
            if (sequence == client.NextCreateSessionSequence)
                return NfsStat4.Ok;
            if (sequence == client.NextCreateSessionSequence - 1 && client.CachedCreateSessionReply is not null)
            {
                check = CreateSessionCheck.Replay;
                return NfsStat4.Ok;
            }
            return NfsStat4.SeqMisordered;
        }
    }

    /// <summary>Creates the session, confirms the client (destroying the record it replaces) and advances csa_sequence.</summary>
    public Session CreateSession(NfsClient client, ChannelAttributes fore, Func<byte[], Callbacks.BackChannel> back)
    {
        var gone = new List<NfsClient>();
        Session session;
        lock (_records)
        {
            if (!client.Confirmed)
            {
                foreach (var other in _all.ToArray())
                {
                    if (other != client && other.Confirmed && other.OwnerId.AsSpan().SequenceEqual(client.OwnerId))
                        Remove(other, gone);
                }
                client.Confirmed = true;
                if (client.Reclaimer)
                {
                    lock (client.Sync)
                        client.Recorded = true;
                }
            }
            client.NextCreateSessionSequence++;
            client.LastRenewed = time.GetTimestamp();
            session = new Session(NewSessionId(client), client, fore, back);
            lock (client.Sync)
                client.Sessions.Add(session);
            _sessions[new SessionKey(session.Id)] = session;
        }
        Announce(gone);
        return session;
    }

    public void CacheCreateSessionReply(NfsClient client, byte[] reply)
    {
        lock (_records)
            client.CachedCreateSessionReply = reply;
    }

    // ---------------------------------------------------------------- lookups, renewal, destruction

    public Session? FindSession(ReadOnlySpan<byte> id) =>
        id.Length == 16 && _sessions.TryGetValue(new SessionKey(id), out var s) && !s.Destroyed ? s : null;

    /// <summary>Confirmed client records (courtesy clients included): the clients gauge.</summary>
    public int ConfirmedCount
    {
        get
        {
            lock (_records)
                return _all.Count(c => c.Confirmed);
        }
    }

    /// <summary>Every client record (confirmed or not, courtesy clients included), for the admin views: a moment's copy.</summary>
    public List<NfsClient> All()
    {
        lock (_records)
            return [.. _all];
    }

    public NfsClient? FindClient(ulong clientId)
    {
        lock (_records)
            return _byId.TryGetValue(clientId, out var c) && !c.Expired ? c : null;
    }

    /// <summary>SEQUENCE renews the lease; a courtesy client is an ordinary one again (its state was kept for it).</summary>
    public void Renew(NfsClient client)
    {
        client.LastRenewed = time.GetTimestamp();
        if (client.Courtesy)
        {
            lock (_records)
                client.Courtesy = false;
        }
    }

    public bool DestroySession(Session session)
    {
        if (!_sessions.TryRemove(new SessionKey(session.Id), out _))
            return false;
        lock (session.Sync)
            session.Destroyed = true;
        session.Back.Close();
        lock (session.Client.Sync)
            session.Client.Sessions.Remove(session);
        return true;
    }

    /// <summary>
    /// DESTROY_CLIENTID (§18.50.3): CLIENTID_BUSY while the client has sessions, or holds state (opens, locks) under an
    /// unexpired lease; a client whose lease ran out is destroyed with its state, as expiry would. STALE_CLIENTID for
    /// an unknown client.
    /// </summary>
    public NfsStat4 DestroyClient(ulong clientId)
    {
        var gone = new List<NfsClient>();
        lock (_records)
        {
            if (!_byId.TryGetValue(clientId, out var client))
                return NfsStat4.StaleClientId;
            if (HasState(client, time.GetTimestamp()))
                return NfsStat4.ClientIdBusy;
            Remove(client, gone);
        }
        Announce(gone);
        return NfsStat4.Ok;
    }

    /// <summary>
    /// Destroys every client whose lease ran out, except that one holding state becomes a courtesy client (RFC 8881
    /// §8.4.3, knfsd's NFSD4_COURTESY) for <see cref="Nfs4Options.CourtesyTime"/>, at most
    /// <see cref="Nfs4Options.MaxCourtesyClients"/> at once (the longest-silent go first). Called by the server's
    /// heartbeat; returns how many clients were destroyed and how many became courtesy clients.
    /// </summary>
    public (int Expired, int Courtesy) ExpireClients()
    {
        long now = time.GetTimestamp();
        long courtesyTicks = (long)(options.CourtesyTime.TotalSeconds * time.TimestampFrequency);
        var gone = new List<NfsClient>();
        int becameCourtesy = 0;
        lock (_records)
        {
            var courtesy = new List<NfsClient>();
            foreach (var client in _all.ToArray())
            {
                if (HasLiveState(client, now))
                    continue;
                if (client.Courtesy)
                {
                    if (now - client.CourtesySince < courtesyTicks)
                        courtesy.Add(client);
                    else
                        Remove(client, gone);
                    continue;
                }
                // The state test runs once, when the lease runs out: a silent client's state cannot grow afterwards.
                if (courtesyTicks > 0 && options.MaxCourtesyClients > 0 && holdsState(client))
                {
                    client.CourtesySince = now;
                    client.Courtesy = true;
                    courtesy.Add(client);
                    becameCourtesy++;
                    continue;
                }
                Remove(client, gone);
            }
            if (courtesy.Count > options.MaxCourtesyClients)
            {
                courtesy.Sort((a, b) => a.LastRenewed.CompareTo(b.LastRenewed));
                foreach (var client in courtesy.Take(courtesy.Count - options.MaxCourtesyClients))
                    Remove(client, gone);
            }
        }
        Announce(gone);
        return (gone.Count, becameCourtesy);
    }

    /// <summary>
    /// Expires a courtesy client at once, with its state (knfsd: a conflict makes it NFSD4_EXPIRABLE): another client
    /// needs something it holds. False if the client is unknown, not a courtesy client, or renewed meanwhile.
    /// </summary>
    public bool ExpireCourtesy(ulong clientId)
    {
        var gone = new List<NfsClient>();
        lock (_records)
        {
            if (!_byId.TryGetValue(clientId, out var client) || !client.Courtesy || HasLiveState(client, time.GetTimestamp()))
                return false;
            Remove(client, gone);
        }
        Announce(gone);
        return true;
    }

    private void Remove(NfsClient client, List<NfsClient> gone)
    {
        _byId.Remove(client.ClientId);
        _all.Remove(client);
        client.Expired = true;
        Session[] sessions;
        lock (client.Sync)
        {
            sessions = [.. client.Sessions];
            client.Sessions.Clear();
        }
        foreach (var s in sessions)
        {
            _sessions.TryRemove(new SessionKey(s.Id), out _);
            lock (s.Sync)
                s.Destroyed = true;
            s.Back.Close();
        }
        gone.Add(client);
    }

    private void Announce(List<NfsClient> gone)
    {
        foreach (var client in gone)
            ClientGone?.Invoke(client);
    }

    private ulong NewClientId() => ((ulong)_boot << 32) | ++_nextClient;

    private byte[] NewSessionId(NfsClient client)
    {
        var id = new byte[16];
        BitConverter.TryWriteBytes(id.AsSpan(0, 8), client.ClientId);
        BitConverter.TryWriteBytes(id.AsSpan(8, 4), ++_nextSession);
        RandomNumberGenerator.Fill(id.AsSpan(12, 4)); // not guessable from the client id alone
        return id;
    }

    /// <summary>A session id as a dictionary key.</summary>
    private readonly record struct SessionKey(ulong A, ulong B)
    {
        public SessionKey(ReadOnlySpan<byte> id) : this(BitConverter.ToUInt64(id[..8]), BitConverter.ToUInt64(id[8..16]))
        {
        }
    }
}
