using System.ComponentModel;
using System.Globalization;

namespace Leasehold.Nfs4.State;

/// <summary>Whether OPEN hands out delegations (<see cref="Nfs4Options.Delegations"/>).</summary>
[TypeConverter(typeof(DelegationPolicyConverter))]
public enum DelegationPolicy
{
    /// <summary>No delegations.</summary>
    Off,

    /// <summary>Delegations while the export guards the delegated file against local processes; none where it cannot.</summary>
    On,

    /// <summary>Delegations without guards: the operator promises nothing but this server touches the export.</summary>
    ExclusiveExport,
}

/// <summary>Reads a <see cref="DelegationPolicy"/> by name, and <c>true</c> and <c>false</c> as On and Off (the setting was a boolean).</summary>
public sealed class DelegationPolicyConverter() : EnumConverter(typeof(DelegationPolicy))
{
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s && bool.TryParse(s.Trim(), out bool on)
            ? on ? DelegationPolicy.On : DelegationPolicy.Off
            : base.ConvertFrom(context, culture, value);
}

/// <summary>NFSv4.1 server settings. Every default says where it comes from.</summary>
public sealed class Nfs4Options
{
    /// <summary>How long a client's state lives without a SEQUENCE. 90 s: the Linux nfsd default (nfsd4_lease).</summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>
    /// How long the grace period after a restart lasts (RFC 8881 §8.4.2.1) when clients were recorded: they reclaim
    /// their opens and locks meanwhile, and new ones wait (NFS4ERR_GRACE). It ends early once every recorded client
    /// has sent RECLAIM_COMPLETE, and stretches 1 s at a time while reclaims still arrive, up to twice this. Null (the
    /// default) means <see cref="LeaseTime"/>, as knfsd's grace time defaults to its lease time. At least LeaseTime, at
    /// most 1 h.
    /// </summary>
    public TimeSpan? GraceTime { get; set; }

    /// <summary><see cref="GraceTime"/>, or the lease time when it is not set.</summary>
    public TimeSpan EffectiveGraceTime => GraceTime ?? LeaseTime;

    /// <summary>Slots granted per session at most. 64: the Linux client's default slot table size.</summary>
    public int MaxSessionSlots { get; set; } = 64;

    /// <summary>Operations in one COMPOUND at most. 50: Linux nfsd's NFSD_MAX_OPS_PER_COMPOUND; real clients send fewer than 10.</summary>
    public int MaxOperationsPerCompound { get; set; } = 50;

    /// <summary>Largest READ or WRITE. 1 MiB: the largest rsize/wsize the Linux client negotiates.</summary>
    public int MaxReadWriteSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Largest ca_maxresponsesize_cached granted at CREATE_SESSION: the most a slot keeps for a request sent with
    /// sa_cachethis (RFC 8881 §2.10.6.1.3); a reply that would not fit fails with NFS4ERR_REP_TOO_BIG_TO_CACHE.
    /// Requests without sa_cachethis keep only their SEQUENCE result, whatever this is. 8 KiB: four times knfsd's
    /// NFSD_SLOT_CACHE_SIZE (2 KiB), which the replies clients ask to cache (OPEN, LOCK, CREATE, RENAME and their
    /// GETATTR) fit in; it bounds a session's cache to slots × 8 KiB (512 KiB at 64 slots).
    /// </summary>
    public int MaxCachedReplySize { get; set; } = 8 * 1024;

    /// <summary>
    /// How long the server waits for the answer to one back-channel call (CB_NULL, CB_COMPOUND) before it takes the
    /// back channel for down (RFC 8881 §18.46.3's SEQ4_STATUS_CB_PATH_DOWN_SESSION). 9 s: a tenth of the default
    /// lease, as knfsd bounds its callback RPCs (lease time / 10). Keep it well under <see cref="LeaseTime"/>: a
    /// client gets one lease time to answer a recall. Between 10 ms and 1 h.
    /// </summary>
    public TimeSpan CallbackTimeout { get; set; } = TimeSpan.FromSeconds(9);

    /// <summary>
    /// How long a GETATTR of size or change waits for the CB_GETATTR it sends to the holder of a write delegation
    /// (RFC 8881 §10.4.3) before it recalls the delegation instead and answers NFS4ERR_DELAY. 30 ms: knfsd's
    /// NFSD_CB_GETATTR_TIMEOUT (HZ/34), enough for a client that answers at all. Between 1 ms and 10 s.
    /// </summary>
    public TimeSpan CbGetAttrTimeout { get; set; } = TimeSpan.FromMilliseconds(30);

    /// <summary>
    /// How long the server waits before it sends a callback again after the client asked it to wait (CB_SEQUENCE or
    /// CB_RECALL answered NFS4ERR_DELAY) or answered a CB_RECALL with NFS4ERR_BADHANDLE or NFS4ERR_BAD_STATEID (the
    /// recall probably overtook the OPEN reply that granted the delegation). 2 s: knfsd's <c>rpc_delay(task, 2 * HZ)</c>
    /// in nfsd4_cb_sequence_done and nfsd4_cb_recall_done. Between 10 ms and 1 min.
    /// </summary>
    public TimeSpan CallbackRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Whether OPEN hands out delegations (RFC 8881 §10.2), and on what condition. On (the default, as knfsd): only
    /// while the export guards the file against local processes (a kernel lease per delegated file, so a local open
    /// waits for the recall), and none at all where it cannot guard (one Warning at start says why). ExclusiveExport:
    /// without guards, for an export nothing but this server touches. Off: every OPEN answers OPEN_DELEGATE_NONE, or
    /// OPEN_DELEGATE_NONE_EXT with WND4_RESOURCE to a client that stated a want. <c>true</c> and <c>false</c>, this
    /// setting's values before it had three, still mean On and Off.
    /// </summary>
    public DelegationPolicy Delegations { get; set; } = DelegationPolicy.On;

    /// <summary>Outstanding delegations the server holds at most, all clients together; past it, none is granted (WND4_RESOURCE). 1,000,000; between 0 and 100,000,000.</summary>
    public int MaxDelegations { get; set; } = 1_000_000;

    /// <summary>Outstanding delegations one client holds at most; past it, none is granted to it (WND4_RESOURCE). 100,000; between 0 and 100,000,000.</summary>
    public int MaxDelegationsPerClient { get; set; } = 100_000;

    /// <summary>
    /// How long a client whose lease ran out keeps its opens, locks and delegations while no other client needs them
    /// (a "courtesy client", RFC 8881 §8.4.3; knfsd since 5.19 keeps them 24 h, NFSD_COURTESY_CLIENT_TIMEOUT). Another
    /// client's conflicting LOCK, LOCKT, share reservation or delegation recall expires it at once; its own next
    /// SEQUENCE makes it an ordinary client again. Zero: a client is expired when its lease runs out. 0 to 7 days.
    /// </summary>
    public TimeSpan CourtesyTime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// The most courtesy clients kept at once (knfsd: 1,024 per GiB of memory); past it the longest-silent ones are
    /// expired. 0 to 1,000,000.
    /// </summary>
    public int MaxCourtesyClients { get; set; } = 1024;

    public void Validate()
    {
        if (MaxDelegations is < 0 or > 100_000_000)
            throw new ArgumentOutOfRangeException(nameof(MaxDelegations), MaxDelegations, "MaxDelegations must be between 0 and 100,000,000.");
        if (MaxDelegationsPerClient is < 0 or > 100_000_000)
            throw new ArgumentOutOfRangeException(nameof(MaxDelegationsPerClient), MaxDelegationsPerClient, "MaxDelegationsPerClient must be between 0 and 100,000,000.");
        if (CourtesyTime < TimeSpan.Zero || CourtesyTime > TimeSpan.FromDays(7))
            throw new ArgumentOutOfRangeException(nameof(CourtesyTime), CourtesyTime, "CourtesyTime must be between 0 and 7 days.");
        if (MaxCourtesyClients is < 0 or > 1_000_000)
            throw new ArgumentOutOfRangeException(nameof(MaxCourtesyClients), MaxCourtesyClients, "MaxCourtesyClients must be between 0 and 1,000,000.");
        if (LeaseTime < TimeSpan.FromSeconds(2) || LeaseTime > TimeSpan.FromHours(1))
            throw new ArgumentOutOfRangeException(nameof(LeaseTime), LeaseTime, "LeaseTime must be between 2 s and 1 h.");
        if (GraceTime is { } grace && (grace < LeaseTime || grace > TimeSpan.FromHours(1)))
            throw new ArgumentOutOfRangeException(nameof(GraceTime), grace, "GraceTime must be at least the lease time and at most 1 h.");
        if (CallbackTimeout < TimeSpan.FromMilliseconds(10) || CallbackTimeout > TimeSpan.FromHours(1))
            throw new ArgumentOutOfRangeException(nameof(CallbackTimeout), CallbackTimeout, "CallbackTimeout must be between 10 ms and 1 h.");
        if (CbGetAttrTimeout < TimeSpan.FromMilliseconds(1) || CbGetAttrTimeout > TimeSpan.FromSeconds(10))
            throw new ArgumentOutOfRangeException(nameof(CbGetAttrTimeout), CbGetAttrTimeout, "CbGetAttrTimeout must be between 1 ms and 10 s.");
        if (CallbackRetryDelay < TimeSpan.FromMilliseconds(10) || CallbackRetryDelay > TimeSpan.FromMinutes(1))
            throw new ArgumentOutOfRangeException(nameof(CallbackRetryDelay), CallbackRetryDelay, "CallbackRetryDelay must be between 10 ms and 1 min.");
        if (MaxSessionSlots is < 1 or > 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxSessionSlots), MaxSessionSlots, "MaxSessionSlots must be between 1 and 1024.");
        if (MaxOperationsPerCompound is < 2 or > 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxOperationsPerCompound), MaxOperationsPerCompound, "MaxOperationsPerCompound must be between 2 and 1024.");
        if (MaxCachedReplySize is < 512 or > 1024 * 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxCachedReplySize), MaxCachedReplySize, "MaxCachedReplySize must be between 512 bytes and 1 MiB.");
        if (MaxReadWriteSize is < 4096 or > 16 * 1024 * 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxReadWriteSize), MaxReadWriteSize, "MaxReadWriteSize must be between 4 KiB and 16 MiB.");
    }
}
