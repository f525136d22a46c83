using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.State;

/// <summary>open_delegation_type4 (RFC 8881 §18.16): the kinds of delegation OPEN hands out.</summary>
internal enum DelegationType : uint
{
    Read = 1,
    Write = 2,
}

/// <summary>Where a delegation is in its life (changed with <see cref="Interlocked"/> on <see cref="DelegationState.Status"/>).</summary>
internal enum DelegationStatus
{
    /// <summary>Held, nobody has asked for it back.</summary>
    Active,

    /// <summary>The engine asked for it back: a CB_RECALL is queued or sent.</summary>
    Recalling,

    /// <summary>Not returned within the engine's deadline: the engine revoked it; the holder frees it with FREE_STATEID.</summary>
    Revoked,

    /// <summary>Given back (DELEGRETURN, FREE_STATEID, or the client went); no longer in any table.</summary>
    Returned,
}

/// <summary>
/// A delegation handed to a client (RFC 8881 §10.2), and the engine's <see cref="IGrantHolder"/> for its grant, so a
/// break notice needs no lookup. Its engine owner is (client id, 0); the client's open owners are (client id, n ≥ 1),
/// so with <see cref="OwnerMatchers.SameGroup"/> a client's own operations never recall it (§10.2, pynfs DELEG23).
/// Its stateid's seqid is always 1.
/// </summary>
internal sealed class DelegationState(StateKey key, NfsClient client, FileHandle file, ulong fileId, DelegationType type, DelegationRegistry registry)
    : IGrantHolder
{
    public StateKey Key { get; } = key;

    public NfsClient Client { get; } = client;

    public FileHandle File { get; } = file;

    public ulong FileId { get; } = fileId;

    public DelegationType Type { get; } = type;

    /// <summary>
    /// Delegated timestamps (RFC 9754 §5; minor version 2, asked with OPEN4_SHARE_ACCESS_WANT_DELEG_TIMESTAMPS): an
    /// OPEN_DELEGATE_READ_ATTRS_DELEG or _WRITE_ATTRS_DELEG. The holder owns the file's access time (and, for a write
    /// one, its modify time) while it holds it: it reports them in CB_GETATTR and sets them with SETATTR of
    /// time_deleg_access / time_deleg_modify.
    /// </summary>
    public bool TimestampsDelegated { get; init; }

    /// <summary>open_delegation_type4 on the wire: READ (1), WRITE (2), READ_ATTRS_DELEG (4) or WRITE_ATTRS_DELEG (5).</summary>
    public uint WireType => (uint)Type + (TimestampsDelegated ? Attributes.DelegationAttributes.AttrsDelegOffset : 0);

    /// <summary>
    /// The file's access and modify times when a delegation with <see cref="TimestampsDelegated"/> was granted: RFC 9754's
    /// "original time", below which a delegated time is ignored. Set once, with <see cref="Grant"/>, before publication.
    /// </summary>
    public FsTime AccessAtGrant { get; set; }

    /// <inheritdoc cref="AccessAtGrant"/>
    public FsTime ModifyAtGrant { get; set; }

    /// <summary>
    /// The latest vetted access and modify times the holder reported in CB_GETATTR (null before any), which GETATTR of
    /// other clients answers with while the delegation lives; guarded by <see cref="ReportedTimesSync"/>.
    /// </summary>
    public (FsTime? Access, FsTime? Modify) ReportedTimes;

    /// <summary>Guards <see cref="ReportedTimes"/>.</summary>
    public readonly Lock ReportedTimesSync = new();

    /// <summary>The engine's grant; set once, right after it is made, before the delegation is published.</summary>
    public Grant? Grant { get; set; }

    /// <summary>
    /// A write delegation's file change attribute when it was granted ("sc" of RFC 8881 §10.4.3): a holder that has
    /// modified nothing answers CB_GETATTR with this value. Set once, with <see cref="Grant"/>, before publication.
    /// </summary>
    public ulong ChangeAtGrant { get; set; }

    /// <summary>
    /// 1 once a CB_GETATTR showed the holder has modified the file (knfsd's <c>ncf_file_modified</c>): from then on every
    /// GETATTR of another client reports the holder's size and a new change value. Set with <see cref="Interlocked"/>.
    /// </summary>
    public int HolderModified;

    /// <summary>The change attribute last reported for a file the holder modified (0 before any); only grows.</summary>
    public ulong ReportedChange;

    /// <summary>The CB_GETATTR in flight for this delegation, shared by the GETATTRs that wait for it; null before the first.</summary>
    public Task<Callbacks.HolderAttributes?>? PendingGetAttr;

    /// <summary>
    /// The export's guard against local processes (a kernel lease) while the grant lives; taken by
    /// <see cref="KernelLeaseAuthority"/> when the engine admits the grant and disposed when the grant ends. Null under
    /// <see cref="DelegationPolicy.ExclusiveExport"/>.
    /// </summary>
    public IDisposable? LocalGuard;

    /// <summary>Why <see cref="KernelLeaseAuthority"/> refused the grant (Ok when it did not): Busy is WND4_CONTENTION, the rest WND4_RESOURCE.</summary>
    public Export.LocalAccess.GuardStatus GuardRefusal;

    /// <summary>
    /// Set when a local process touched the file after the guard was taken (<see cref="KernelLeaseAuthority.NoteLocalAccess"/>):
    /// a grant the engine records after that break was reported is not handed out.
    /// </summary>
    public volatile bool LocalAccessSeen;

    /// <summary>When its recall started (a <see cref="Nfs4Server.Time"/> timestamp; 0: none, or measured already), for <see cref="Nfs4Metrics"/>.</summary>
    public long RecallStarted;

    /// <summary>A <see cref="DelegationStatus"/>, changed only with <see cref="Interlocked.CompareExchange(ref int, int, int)"/>.</summary>
    public int Status;

    public DelegationStatus CurrentStatus => (DelegationStatus)Volatile.Read(ref Status);

    public StateId Id => new(1, Key.High, Key.Low);

    /// <summary>The engine wants it back: queue a CB_RECALL and return at once (notices run one at a time, server-wide).</summary>
    public void OnBreak(Grant grant, BreakTarget target, DateTimeOffset deadline) => registry.Recall(this);

    /// <summary>Not returned in time: the engine revoked it.</summary>
    public void OnBreakExpired(Grant grant, BreakTarget applied) => registry.Revoked(this);

    public override string ToString() => $"{Type} delegation {Id} on file {FileId} of client {Client}";
}
