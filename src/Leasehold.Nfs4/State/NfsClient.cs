namespace Leasehold.Nfs4.State;

/// <summary>
/// A client record (RFC 8881 §2.4): made by EXCHANGE_ID, confirmed by its first CREATE_SESSION, renewed by every
/// SEQUENCE, destroyed by DESTROY_CLIENTID or lease expiry. Guarded by its own lock; the <see cref="ClientTable"/>
/// decides which records exist.
/// </summary>
internal sealed class NfsClient(ulong clientId, byte[] ownerId, ulong verifier, string principal, long now)
{
    public readonly Lock Sync = new();

    /// <summary>
    /// Delegations the server revoked and the client has not yet freed (FREE_STATEID): while above zero, every
    /// SEQUENCE reply carries SEQ4_STATUS_RECALLABLE_STATE_REVOKED (RFC 8881 §18.46.3). Changed with Interlocked.
    /// </summary>
    public int RevokedDelegations;

    /// <summary>
    /// Stateids of this client an administrator revoked that it has not yet freed (<see cref="AdminRevokedStates"/>):
    /// while above zero, every SEQUENCE reply carries SEQ4_STATUS_ADMIN_STATE_REVOKED. Changed with Interlocked.
    /// </summary>
    public int AdminRevokedStates;

    public ulong ClientId { get; } = clientId;

    public byte[] OwnerId { get; } = ownerId;

    public ulong Verifier { get; } = verifier;

    /// <summary>Who made the record (AUTH_SYS uid or "none"): EXCHANGE_ID refuses another principal's update.</summary>
    public string Principal { get; } = principal;

    public bool Confirmed { get; set; }

    /// <summary>The csa_sequence the next CREATE_SESSION must carry (§18.36.4); starts at the one EXCHANGE_ID returned.</summary>
    public uint NextCreateSessionSequence { get; set; } = 1;

    /// <summary>The last CREATE_SESSION reply, for a retransmission of it.</summary>
    public byte[]? CachedCreateSessionReply { get; set; }

    public bool ReclaimComplete { get; set; }

    /// <summary>
    /// Made during the grace period under the co_ownerid and principal of a recorded client (RFC 8881 §8.4.2.1): it may
    /// reclaim (OPEN CLAIM_PREVIOUS, LOCK reclaim) until its RECLAIM_COMPLETE or the end of grace. Set at creation.
    /// </summary>
    public bool Reclaimer { get; init; }

    /// <summary>
    /// A row for this client exists in stable storage: written at its RECLAIM_COMPLETE, or inherited by a reclaimer when
    /// CREATE_SESSION confirms it. Its removal (DESTROY_CLIENTID, expiry, replacement) then removes the row. Read and
    /// written under <see cref="Sync"/>.
    /// </summary>
    public bool Recorded { get; set; }

    /// <summary>Timestamp (TimeProvider) of the last renewal.</summary>
    public long LastRenewed { get; set; } = now;

    public List<Session> Sessions { get; } = [];

    public bool Expired { get; set; }

    /// <summary>
    /// The lease ran out but the client keeps its state until another client needs it (<see cref="Nfs4Options.CourtesyTime"/>);
    /// cleared by its next SEQUENCE. Written under the client table's lock, read without it.
    /// </summary>
    public volatile bool Courtesy;

    /// <summary>Timestamp (TimeProvider) at which the client became a courtesy client.</summary>
    public long CourtesySince;

    /// <summary>The client's outstanding delegations by file id (under <see cref="Sync"/>): one per file at most.</summary>
    public Dictionary<ulong, DelegationState> DelegationsByFile { get; } = [];

    /// <summary>How many delegations the client holds, for <see cref="Nfs4Options.MaxDelegationsPerClient"/>.</summary>
    public int DelegationCount
    {
        get
        {
            lock (Sync)
                return DelegationsByFile.Count;
        }
    }

    /// <summary>
    /// Whether any session of the client has a usable back channel (<see cref="Callbacks.BackChannel.IsUp"/>); when
    /// none has, SEQUENCE reports SEQ4_STATUS_CB_PATH_DOWN (RFC 8881 §18.46.3) and no delegation may be granted.
    /// </summary>
    public bool HasUsableBackChannel() => NewestUsableSession() is not null;

    /// <summary>The newest session whose back channel is usable, or null: where a callback goes first.</summary>
    public Session? NewestUsableSession()
    {
        lock (Sync)
        {
            for (int i = Sessions.Count - 1; i >= 0; i--)
            {
                if (Sessions[i].Back.IsUp)
                    return Sessions[i];
            }
            return null;
        }
    }

    public override string ToString() => $"{ClientId:x16}";
}
