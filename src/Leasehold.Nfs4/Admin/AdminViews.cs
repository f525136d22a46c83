namespace Leasehold.Nfs4.Admin;

/// <summary>
/// One client, as <c>leasehold clients</c> lists it (knfsd: /proc/fs/nfsd/clients/ID/info).
/// </summary>
/// <param name="Id">The clientid4 in hex (16 digits), as logs name it.</param>
/// <param name="Owner">The co_ownerid of EXCHANGE_ID (RFC 8881 §18.35): text when printable, else hex.</param>
/// <param name="Address">Where its newest fore-channel connection comes from ("host:port"), or null with no connection.</param>
/// <param name="MinorVersion">The NFSv4 minor version of its newest session (1 or 2); null before CREATE_SESSION.</param>
/// <param name="State">"active", "courtesy" (lease ran out, state kept until someone needs it), "unconfirmed" or "expired".</param>
/// <param name="LeaseExpires">When its lease runs out unless a SEQUENCE renews it (UTC).</param>
/// <param name="BackChannelUp">Whether any of its sessions has a usable back channel (callbacks can reach it).</param>
/// <param name="RevokedStates">Stateids revoked (by the server or an administrator) that it has not freed yet.</param>
public sealed record ClientView(
    string Id,
    string Owner,
    string? Address,
    uint? MinorVersion,
    string State,
    DateTimeOffset LeaseExpires,
    int Sessions,
    bool BackChannelUp,
    int Opens,
    int Locks,
    int Delegations,
    int RevokedStates);

/// <summary>An open of a client (a share reservation, RFC 8881 §9.7): access and deny are "READ", "WRITE" or "BOTH" ("NONE" for deny only).</summary>
public sealed record OpenView(string StateId, string Path, ulong FileId, string OpenOwner, string Access, string Deny);

/// <summary>A byte-range lock (RFC 8881 §9): <paramref name="End"/> inclusive, 18446744073709551615 for "to the end of the file".</summary>
public sealed record RangeLockView(string StateId, string Path, ulong FileId, string LockOwner, string Type, ulong Start, ulong End);

/// <summary>A delegation (RFC 8881 §10.2): type "READ" or "WRITE" (with "+TIMESTAMPS" for RFC 9754's), status "ACTIVE", "RECALLING" or "REVOKED".</summary>
public sealed record DelegationView(string StateId, string Path, ulong FileId, string Type, string Status);

/// <summary>
/// A stateid an administrator revoked (<c>leasehold client revoke</c>) that the client has not freed yet: each operation
/// naming it answers NFS4ERR_ADMIN_REVOKED until the client's FREE_STATEID (RFC 8881 §8.2.4). Kind "OPEN", "LOCK" or
/// "DELEGATION". (A delegation the server revoked because its recall ran out is listed with the delegations, REVOKED.)
/// </summary>
public sealed record RevokedStateView(string StateId, string Kind, string Path, ulong FileId);

/// <summary>
/// Everything a client holds, as <c>leasehold client show ID</c> prints it (knfsd: clients/ID/states), and the stateids
/// an administrator revoked that it has not freed yet.
/// </summary>
public sealed record ClientStatesView(ClientView Client, IReadOnlyList<OpenView> Opens, IReadOnlyList<RangeLockView> Locks, IReadOnlyList<DelegationView> Delegations,
    IReadOnlyList<RevokedStateView> Revoked);

/// <summary>
/// One line of <c>leasehold locks</c>: a lease, delegation or layout from the engine, a byte-range lock, or a share
/// reservation, like a line of /proc/locks.
/// </summary>
/// <param name="Kind">"DELEGATION", "LEASE", "LAYOUT", "RANGE" (byte-range lock) or "SHARE" (an open's reservation).</param>
/// <param name="Mode">READ/WRITE (leases, delegations, range locks), SHARED/EXCLUSIVE (layouts), or "access/deny" for a share.</param>
/// <param name="Path">The file's path inside the export when known (<see cref="Export.IExportedTree.PathOf"/>), else null.</param>
/// <param name="Client">The holding NFS client's id (hex) when an NFS client holds it; null for a local or cluster holder.</param>
/// <param name="Holder">The engine owner ("group/id" in hex) or the lock/open owner.</param>
/// <param name="State">"ACTIVE", "BREAKING" (recall under way), "REVOKED" (taken back, not yet freed), or for RANGE
/// "WAITING" (a blocking LOCK that was denied: its client polls, and is sent CB_NOTIFY_LOCK when it may be free).</param>
/// <param name="Granted">When it was granted (engine grants), opened (SHARE), or first denied (WAITING).</param>
/// <param name="Deadline">While BREAKING: when the engine takes it back by itself.</param>
/// <param name="WaitingBreakers">Breakers parked on the file, waiting for it; for a held RANGE lock, the WAITING locks it stands in the way of.</param>
/// <param name="Range">For RANGE: "start-end" (inclusive; "EOF" for the end of the file).</param>
public sealed record LockView(
    string Kind,
    string Mode,
    ulong FileId,
    string? Path,
    string? Client,
    string Holder,
    string State,
    DateTimeOffset? Granted,
    DateTimeOffset? Deadline,
    int WaitingBreakers,
    string? Range);

/// <summary>What <see cref="ServerAdmin.RevokeClientState"/> took from a client; <see cref="ClientExpired"/>: it was a courtesy client, and is gone too.</summary>
public sealed record RevokeOutcome(string Client, int Opens, int Locks, int Delegations, bool ClientExpired);

/// <summary>What <see cref="ServerAdmin.RecallAsync"/> did: how many delegations on the file are now being recalled.</summary>
public sealed record RecallOutcome(string Path, ulong FileId, int Recalling);

/// <summary>
/// A running total of the server: what the status page and <c>leasehold status</c> show at the top.
/// <see cref="GraceSecondsLeft"/> is null outside a grace period; <see cref="GraceClientsPending"/> counts the recorded
/// clients that have not sent RECLAIM_COMPLETE yet (RFC 8881 §8.4.2.1).
/// </summary>
public sealed record ServerSummary(
    DateTimeOffset Now,
    bool InGrace,
    int Clients,
    int CourtesyClients,
    int Sessions,
    int Opens,
    int Delegations,
    int Recalling,
    int EngineGrants,
    double? GraceSecondsLeft,
    int GraceClientsPending);
