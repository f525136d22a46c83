using System.Diagnostics;
using System.Diagnostics.Metrics;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;

namespace Leasehold.Nfs4;

/// <summary>
/// The NFS layer's instruments (System.Diagnostics.Metrics) on a <see cref="System.Diagnostics.Metrics.Meter"/> named
/// <see cref="MeterName"/>.
/// </summary>
/// <remarks>
/// <para><b>One meter per server.</b> Each <see cref="Nfs4Server"/> makes its own meter (<c>new Meter(MeterName)</c>,
/// no IMeterFactory) and disposes it in <see cref="Nfs4Server.DisposeAsync"/>. Its observable gauges read that server's
/// tables, and several servers in one process (the tests) are measured apart: a listener picks one server's instruments
/// by <see cref="Meter"/>. A collector subscribes by the name (OpenTelemetry's <c>AddMeter("Leasehold.Nfs4")</c>), which
/// finds every server's meter.</para>
/// <para><b>Cheap on the hot path</b> (docs/benchmarks.md "Metrics overhead"). Operations and COMPOUNDs are counted in
/// <see cref="StatusCounts"/> (one uncontended interlocked add) and exported by observable counters, which the collector
/// reads when it scrapes; operation durations are kept per processor and recorded in batches
/// (<see cref="BatchedHistogram"/>, <see cref="FlushDurations"/>). Tag values are
/// precomputed <see cref="KeyValuePair{TKey, TValue}"/>s (the RFC names of every opcode and status), passed to the
/// overloads that do not allocate. An operation's end is the next one's start: a COMPOUND of n operations reads the
/// clock n + 1 times, and only while the histogram has a listener (<see cref="Instrument.Enabled"/>). With no listener
/// at all (Admin:Metrics off) nothing is counted.</para>
/// </remarks>
public sealed class Nfs4Metrics : IDisposable
{
    /// <summary>The name of every server's meter.</summary>
    public const string MeterName = "Leasehold.Nfs4";

    /// <summary>Observable counter: operations answered. Tags nfs.operation (RFC name: READ, OPEN, ...), nfs.status (NFS4_OK, NFS4ERR_DELAY, ...).</summary>
    public const string OperationsName = "leasehold.nfs.operations";

    /// <summary>Histogram, seconds: time to execute one operation (decode, execute, encode). Tag nfs.operation.</summary>
    public const string OperationDurationName = "leasehold.nfs.operation.duration";

    /// <summary>Observable counter: COMPOUNDs answered. Tags nfs.minor_version (1 or 2; absent for another), nfs.status (the COMPOUND's).</summary>
    public const string CompoundsName = "leasehold.nfs.compounds";

    /// <summary>Observable counter: delegations granted. Tag nfs.delegation.type (READ, WRITE).</summary>
    public const string DelegationsGrantedName = "leasehold.nfs.delegations.granted";

    /// <summary>Observable counter: delegations recalled (CB_RECALL started). Tag nfs.delegation.type.</summary>
    public const string DelegationsRecalledName = "leasehold.nfs.delegations.recalled";

    /// <summary>Observable counter: delegations returned with DELEGRETURN. Tag nfs.delegation.type.</summary>
    public const string DelegationsReturnedName = "leasehold.nfs.delegations.returned";

    /// <summary>
    /// Observable counter: delegations taken from their client: not returned by the engine's deadline, revoked by the administrator,
    /// or gone with their client (expired, or a courtesy client expired). Tags nfs.delegation.type, nfs.revoke.reason
    /// (deadline, admin, client_gone).
    /// </summary>
    public const string DelegationsRevokedName = "leasehold.nfs.delegations.revoked";

    /// <summary>Histogram, seconds: from the start of a recall (CB_RECALL) to DELEGRETURN or revocation. Tags nfs.delegation.type, outcome (returned, revoked).</summary>
    public const string RecallDurationName = "leasehold.nfs.recall.duration";

    /// <summary>Observable counter, bytes: data READ, READ_PLUS and WRITE moved. Tag nfs.io.direction (read, write).</summary>
    public const string IoBytesName = "leasehold.nfs.io.bytes";

    /// <summary>Observable gauge: confirmed client records (courtesy clients included).</summary>
    public const string ClientsName = "leasehold.nfs.clients";

    /// <summary>Observable gauge: sessions.</summary>
    public const string SessionsName = "leasehold.nfs.sessions";

    /// <summary>Observable gauge: outstanding delegations (active, being recalled, or revoked and not yet freed).</summary>
    public const string DelegationsName = "leasehold.nfs.delegations";

    /// <summary>Bucket boundaries of <see cref="OperationDurationName"/>: 50 µs to 10 s.</summary>
    public static readonly IReadOnlyList<double> OperationBuckets =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Bucket boundaries of <see cref="RecallDurationName"/>: 1 ms to 90 s (a recall lasts up to the lease time, and more past it).</summary>
    public static readonly IReadOnlyList<double> RecallBuckets =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90];

    private const int LastOpcode = (int)NfsOpcode.RemoveXattr;

    /// <summary>The key <see cref="StatusCounts"/> and <see cref="BatchedHistogram"/> keep ILLEGAL under (its opcode, 10044, is far past the others).</summary>
    private const int IllegalKey = LastOpcode + 1;

    private static readonly Dictionary<NfsOpcode, string> s_opcodeNames = new()
    {
            { NfsOpcode.Access, "ACCESS" },
            { NfsOpcode.Close, "CLOSE" },
            { NfsOpcode.Commit, "COMMIT" },
            { NfsOpcode.Create, "CREATE" },
            { NfsOpcode.DelegPurge, "DELEGPURGE" },
            { NfsOpcode.DelegReturn, "DELEGRETURN" },
            { NfsOpcode.GetAttr, "GETATTR" },
            { NfsOpcode.GetFh, "GETFH" },
            { NfsOpcode.Link, "LINK" },
            { NfsOpcode.Lock, "LOCK" },
            { NfsOpcode.LockT, "LOCKT" },
            { NfsOpcode.LockU, "LOCKU" },
            { NfsOpcode.Lookup, "LOOKUP" },
            { NfsOpcode.LookupP, "LOOKUPP" },
            { NfsOpcode.NVerify, "NVERIFY" },
            { NfsOpcode.Open, "OPEN" },
            { NfsOpcode.OpenAttr, "OPENATTR" },
            { NfsOpcode.OpenConfirm, "OPEN_CONFIRM" },
            { NfsOpcode.OpenDowngrade, "OPEN_DOWNGRADE" },
            { NfsOpcode.PutFh, "PUTFH" },
            { NfsOpcode.PutPubFh, "PUTPUBFH" },
            { NfsOpcode.PutRootFh, "PUTROOTFH" },
            { NfsOpcode.Read, "READ" },
            { NfsOpcode.ReadDir, "READDIR" },
            { NfsOpcode.ReadLink, "READLINK" },
            { NfsOpcode.Remove, "REMOVE" },
            { NfsOpcode.Rename, "RENAME" },
            { NfsOpcode.Renew, "RENEW" },
            { NfsOpcode.RestoreFh, "RESTOREFH" },
            { NfsOpcode.SaveFh, "SAVEFH" },
            { NfsOpcode.SecInfo, "SECINFO" },
            { NfsOpcode.SetAttr, "SETATTR" },
            { NfsOpcode.SetClientId, "SETCLIENTID" },
            { NfsOpcode.SetClientIdConfirm, "SETCLIENTID_CONFIRM" },
            { NfsOpcode.Verify, "VERIFY" },
            { NfsOpcode.Write, "WRITE" },
            { NfsOpcode.ReleaseLockOwner, "RELEASE_LOCKOWNER" },
            { NfsOpcode.BackchannelCtl, "BACKCHANNEL_CTL" },
            { NfsOpcode.BindConnToSession, "BIND_CONN_TO_SESSION" },
            { NfsOpcode.ExchangeId, "EXCHANGE_ID" },
            { NfsOpcode.CreateSession, "CREATE_SESSION" },
            { NfsOpcode.DestroySession, "DESTROY_SESSION" },
            { NfsOpcode.FreeStateId, "FREE_STATEID" },
            { NfsOpcode.GetDirDelegation, "GET_DIR_DELEGATION" },
            { NfsOpcode.GetDeviceInfo, "GETDEVICEINFO" },
            { NfsOpcode.GetDeviceList, "GETDEVICELIST" },
            { NfsOpcode.LayoutCommit, "LAYOUTCOMMIT" },
            { NfsOpcode.LayoutGet, "LAYOUTGET" },
            { NfsOpcode.LayoutReturn, "LAYOUTRETURN" },
            { NfsOpcode.SecInfoNoName, "SECINFO_NO_NAME" },
            { NfsOpcode.Sequence, "SEQUENCE" },
            { NfsOpcode.SetSsv, "SET_SSV" },
            { NfsOpcode.TestStateId, "TEST_STATEID" },
            { NfsOpcode.WantDelegation, "WANT_DELEGATION" },
            { NfsOpcode.DestroyClientId, "DESTROY_CLIENTID" },
            { NfsOpcode.ReclaimComplete, "RECLAIM_COMPLETE" },
            { NfsOpcode.Allocate, "ALLOCATE" },
            { NfsOpcode.Copy, "COPY" },
            { NfsOpcode.CopyNotify, "COPY_NOTIFY" },
            { NfsOpcode.Deallocate, "DEALLOCATE" },
            { NfsOpcode.IoAdvise, "IO_ADVISE" },
            { NfsOpcode.LayoutError, "LAYOUTERROR" },
            { NfsOpcode.LayoutStats, "LAYOUTSTATS" },
            { NfsOpcode.OffloadCancel, "OFFLOAD_CANCEL" },
            { NfsOpcode.OffloadStatus, "OFFLOAD_STATUS" },
            { NfsOpcode.ReadPlus, "READ_PLUS" },
            { NfsOpcode.Seek, "SEEK" },
            { NfsOpcode.WriteSame, "WRITE_SAME" },
            { NfsOpcode.Clone, "CLONE" },
            { NfsOpcode.GetXattr, "GETXATTR" },
            { NfsOpcode.SetXattr, "SETXATTR" },
            { NfsOpcode.ListXattrs, "LISTXATTRS" },
            { NfsOpcode.RemoveXattr, "REMOVEXATTR" },
            { NfsOpcode.Illegal, "ILLEGAL" },
    };

    private static readonly Dictionary<NfsStat4, string> s_statusNames = new()
    {
            { NfsStat4.Ok, "NFS4_OK" },
            { NfsStat4.Perm, "NFS4ERR_PERM" },
            { NfsStat4.NoEnt, "NFS4ERR_NOENT" },
            { NfsStat4.Io, "NFS4ERR_IO" },
            { NfsStat4.Nxio, "NFS4ERR_NXIO" },
            { NfsStat4.Access, "NFS4ERR_ACCESS" },
            { NfsStat4.Exist, "NFS4ERR_EXIST" },
            { NfsStat4.Xdev, "NFS4ERR_XDEV" },
            { NfsStat4.NotDir, "NFS4ERR_NOTDIR" },
            { NfsStat4.IsDir, "NFS4ERR_ISDIR" },
            { NfsStat4.Inval, "NFS4ERR_INVAL" },
            { NfsStat4.FBig, "NFS4ERR_FBIG" },
            { NfsStat4.NoSpc, "NFS4ERR_NOSPC" },
            { NfsStat4.Rofs, "NFS4ERR_ROFS" },
            { NfsStat4.MLink, "NFS4ERR_MLINK" },
            { NfsStat4.NameTooLong, "NFS4ERR_NAMETOOLONG" },
            { NfsStat4.NotEmpty, "NFS4ERR_NOTEMPTY" },
            { NfsStat4.DQuot, "NFS4ERR_DQUOT" },
            { NfsStat4.Stale, "NFS4ERR_STALE" },
            { NfsStat4.BadHandle, "NFS4ERR_BADHANDLE" },
            { NfsStat4.BadCookie, "NFS4ERR_BAD_COOKIE" },
            { NfsStat4.NotSupp, "NFS4ERR_NOTSUPP" },
            { NfsStat4.TooSmall, "NFS4ERR_TOOSMALL" },
            { NfsStat4.ServerFault, "NFS4ERR_SERVERFAULT" },
            { NfsStat4.BadType, "NFS4ERR_BADTYPE" },
            { NfsStat4.Delay, "NFS4ERR_DELAY" },
            { NfsStat4.Same, "NFS4ERR_SAME" },
            { NfsStat4.Denied, "NFS4ERR_DENIED" },
            { NfsStat4.Expired, "NFS4ERR_EXPIRED" },
            { NfsStat4.Locked, "NFS4ERR_LOCKED" },
            { NfsStat4.Grace, "NFS4ERR_GRACE" },
            { NfsStat4.FhExpired, "NFS4ERR_FHEXPIRED" },
            { NfsStat4.ShareDenied, "NFS4ERR_SHARE_DENIED" },
            { NfsStat4.WrongSec, "NFS4ERR_WRONGSEC" },
            { NfsStat4.ClidInUse, "NFS4ERR_CLID_INUSE" },
            { NfsStat4.Resource, "NFS4ERR_RESOURCE" },
            { NfsStat4.Moved, "NFS4ERR_MOVED" },
            { NfsStat4.NoFileHandle, "NFS4ERR_NOFILEHANDLE" },
            { NfsStat4.MinorVersMismatch, "NFS4ERR_MINOR_VERS_MISMATCH" },
            { NfsStat4.StaleClientId, "NFS4ERR_STALE_CLIENTID" },
            { NfsStat4.StaleStateId, "NFS4ERR_STALE_STATEID" },
            { NfsStat4.OldStateId, "NFS4ERR_OLD_STATEID" },
            { NfsStat4.BadStateId, "NFS4ERR_BAD_STATEID" },
            { NfsStat4.BadSeqId, "NFS4ERR_BAD_SEQID" },
            { NfsStat4.NotSame, "NFS4ERR_NOT_SAME" },
            { NfsStat4.LockRange, "NFS4ERR_LOCK_RANGE" },
            { NfsStat4.Symlink, "NFS4ERR_SYMLINK" },
            { NfsStat4.RestoreFh, "NFS4ERR_RESTOREFH" },
            { NfsStat4.LeaseMoved, "NFS4ERR_LEASE_MOVED" },
            { NfsStat4.AttrNotSupp, "NFS4ERR_ATTRNOTSUPP" },
            { NfsStat4.NoGrace, "NFS4ERR_NO_GRACE" },
            { NfsStat4.ReclaimBad, "NFS4ERR_RECLAIM_BAD" },
            { NfsStat4.ReclaimConflict, "NFS4ERR_RECLAIM_CONFLICT" },
            { NfsStat4.BadXdr, "NFS4ERR_BADXDR" },
            { NfsStat4.LocksHeld, "NFS4ERR_LOCKS_HELD" },
            { NfsStat4.OpenMode, "NFS4ERR_OPENMODE" },
            { NfsStat4.BadOwner, "NFS4ERR_BADOWNER" },
            { NfsStat4.BadChar, "NFS4ERR_BADCHAR" },
            { NfsStat4.BadName, "NFS4ERR_BADNAME" },
            { NfsStat4.BadRange, "NFS4ERR_BAD_RANGE" },
            { NfsStat4.LockNotSupp, "NFS4ERR_LOCK_NOTSUPP" },
            { NfsStat4.OpIllegal, "NFS4ERR_OP_ILLEGAL" },
            { NfsStat4.Deadlock, "NFS4ERR_DEADLOCK" },
            { NfsStat4.FileOpen, "NFS4ERR_FILE_OPEN" },
            { NfsStat4.AdminRevoked, "NFS4ERR_ADMIN_REVOKED" },
            { NfsStat4.CbPathDown, "NFS4ERR_CB_PATH_DOWN" },
            { NfsStat4.BadIoMode, "NFS4ERR_BADIOMODE" },
            { NfsStat4.BadLayout, "NFS4ERR_BADLAYOUT" },
            { NfsStat4.BadSessionDigest, "NFS4ERR_BAD_SESSION_DIGEST" },
            { NfsStat4.BadSession, "NFS4ERR_BADSESSION" },
            { NfsStat4.BadSlot, "NFS4ERR_BADSLOT" },
            { NfsStat4.CompleteAlready, "NFS4ERR_COMPLETE_ALREADY" },
            { NfsStat4.ConnNotBoundToSession, "NFS4ERR_CONN_NOT_BOUND_TO_SESSION" },
            { NfsStat4.DelegAlreadyWanted, "NFS4ERR_DELEG_ALREADY_WANTED" },
            { NfsStat4.BackChanBusy, "NFS4ERR_BACK_CHAN_BUSY" },
            { NfsStat4.LayoutTryLater, "NFS4ERR_LAYOUTTRYLATER" },
            { NfsStat4.LayoutUnavailable, "NFS4ERR_LAYOUTUNAVAILABLE" },
            { NfsStat4.NoMatchingLayout, "NFS4ERR_NOMATCHING_LAYOUT" },
            { NfsStat4.RecallConflict, "NFS4ERR_RECALLCONFLICT" },
            { NfsStat4.UnknownLayoutType, "NFS4ERR_UNKNOWN_LAYOUTTYPE" },
            { NfsStat4.SeqMisordered, "NFS4ERR_SEQ_MISORDERED" },
            { NfsStat4.SequencePos, "NFS4ERR_SEQUENCE_POS" },
            { NfsStat4.ReqTooBig, "NFS4ERR_REQ_TOO_BIG" },
            { NfsStat4.RepTooBig, "NFS4ERR_REP_TOO_BIG" },
            { NfsStat4.RepTooBigToCache, "NFS4ERR_REP_TOO_BIG_TO_CACHE" },
            { NfsStat4.RetryUncachedRep, "NFS4ERR_RETRY_UNCACHED_REP" },
            { NfsStat4.UnsafeCompound, "NFS4ERR_UNSAFE_COMPOUND" },
            { NfsStat4.TooManyOps, "NFS4ERR_TOO_MANY_OPS" },
            { NfsStat4.OpNotInSession, "NFS4ERR_OP_NOT_IN_SESSION" },
            { NfsStat4.HashAlgUnsupp, "NFS4ERR_HASH_ALG_UNSUPP" },
            { NfsStat4.ClientIdBusy, "NFS4ERR_CLIENTID_BUSY" },
            { NfsStat4.PnfsIoHole, "NFS4ERR_PNFS_IO_HOLE" },
            { NfsStat4.SeqFalseRetry, "NFS4ERR_SEQ_FALSE_RETRY" },
            { NfsStat4.BadHighSlot, "NFS4ERR_BAD_HIGH_SLOT" },
            { NfsStat4.DeadSession, "NFS4ERR_DEADSESSION" },
            { NfsStat4.EncrAlgUnsupp, "NFS4ERR_ENCR_ALG_UNSUPP" },
            { NfsStat4.PnfsNoLayout, "NFS4ERR_PNFS_NO_LAYOUT" },
            { NfsStat4.NotOnlyOp, "NFS4ERR_NOT_ONLY_OP" },
            { NfsStat4.WrongCred, "NFS4ERR_WRONG_CRED" },
            { NfsStat4.WrongType, "NFS4ERR_WRONG_TYPE" },
            { NfsStat4.DirDelegUnavail, "NFS4ERR_DIRDELEG_UNAVAIL" },
            { NfsStat4.RejectDeleg, "NFS4ERR_REJECT_DELEG" },
            { NfsStat4.ReturnConflict, "NFS4ERR_RETURNCONFLICT" },
            { NfsStat4.DelegRevoked, "NFS4ERR_DELEG_REVOKED" },
            { NfsStat4.PartnerNotSupp, "NFS4ERR_PARTNER_NOTSUPP" },
            { NfsStat4.PartnerNoAuth, "NFS4ERR_PARTNER_NO_AUTH" },
            { NfsStat4.UnionNotSupp, "NFS4ERR_UNION_NOTSUPP" },
            { NfsStat4.OffloadDenied, "NFS4ERR_OFFLOAD_DENIED" },
            { NfsStat4.WrongLfs, "NFS4ERR_WRONG_LFS" },
            { NfsStat4.BadLabel, "NFS4ERR_BADLABEL" },
            { NfsStat4.OffloadNoReqs, "NFS4ERR_OFFLOAD_NO_REQS" },
            { NfsStat4.NoXattr, "NFS4ERR_NOXATTR" },
            { NfsStat4.Xattr2Big, "NFS4ERR_XATTR2BIG" },
    };

    private static readonly KeyValuePair<string, object?> s_illegal = new("nfs.operation", "ILLEGAL");
    private static readonly KeyValuePair<string, object?>[] s_operation = BuildOperationTags();
    private static readonly KeyValuePair<string, object?>[] s_lowStatus = BuildStatusTags(0, (int)NfsStat4.Stale);
    private static readonly KeyValuePair<string, object?>[] s_highStatus = BuildStatusTags((int)NfsStat4.BadHandle, (int)NfsStat4.Xattr2Big);
    private static readonly KeyValuePair<string, object?> s_unknownStatus = new("nfs.status", "NFS4ERR_UNKNOWN");
    private static readonly KeyValuePair<string, object?>[] s_minorVersion = [default, new("nfs.minor_version", 1), new("nfs.minor_version", 2)];
    private static readonly KeyValuePair<string, object?>[] s_delegationType = [new("nfs.delegation.type", "READ"), new("nfs.delegation.type", "WRITE")];
    private static readonly KeyValuePair<string, object?> s_returned = new("outcome", "returned");
    private static readonly KeyValuePair<string, object?> s_revoked = new("outcome", "revoked");
    private static readonly KeyValuePair<string, object?>[] s_revokeReason =
        [new("nfs.revoke.reason", "deadline"), new("nfs.revoke.reason", "admin"), new("nfs.revoke.reason", "client_gone")];
    private static readonly KeyValuePair<string, object?> s_read = new("nfs.io.direction", "read");
    private static readonly KeyValuePair<string, object?> s_write = new("nfs.io.direction", "write");

    private readonly Nfs4Server _server;
    private readonly StatusCounts _operationCounts = new(IllegalKey + 1);
    private readonly ObservableCounter<long> _operations;
    private readonly BatchedHistogram _operationDurations;
    private readonly StatusCounts _compoundCounts = new(s_minorVersion.Length);
    private readonly ObservableCounter<long> _compounds;
    // Observable counters over plain totals, so every series is exported from the first scrape on, at 0 until it moves:
    // an alert on "revoked increased" needs the series to exist before the first revocation. [event * 2 + type]
    private readonly long[] _delegationEvents = new long[3 * 2];
    private readonly long[] _revocations = new long[s_revokeReason.Length * 2]; // [reason * 2 + type]
    private readonly Histogram<double> _recallDuration;
    private long _bytesRead;
    private long _bytesWritten;

    private const int Granted = 0, Recalled = 1, Returned = 2;

    internal Nfs4Metrics(Nfs4Server server)
    {
        _server = server;
        Meter = new Meter(MeterName);
        _operations = Meter.CreateObservableCounter(OperationsName, ObserveOperations, "{operation}", "NFSv4 operations answered, by operation and status");
        _operationDurations = new BatchedHistogram(
            Meter.CreateHistogram(OperationDurationName, "s", "Time to decode, execute and encode one NFSv4 operation",
                tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = OperationBuckets }),
            KeyTag, server.Time);
        _compounds = Meter.CreateObservableCounter(CompoundsName, ObserveCompounds, "{compound}", "COMPOUND requests answered, by minor version and status");
        Meter.CreateObservableCounter(DelegationsGrantedName, () => ObserveDelegations(Granted), "{delegation}", "Delegations granted");
        Meter.CreateObservableCounter(DelegationsRecalledName, () => ObserveDelegations(Recalled), "{delegation}", "Delegations recalled (CB_RECALL started)");
        Meter.CreateObservableCounter(DelegationsReturnedName, () => ObserveDelegations(Returned), "{delegation}", "Delegations returned with DELEGRETURN");
        Meter.CreateObservableCounter(DelegationsRevokedName, ObserveRevocations, "{delegation}",
            "Delegations taken from their client: by the deadline, by the administrator, or with the client");
        _recallDuration = Meter.CreateHistogram(RecallDurationName, "s", "From the start of a delegation's recall to its return or revocation",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RecallBuckets });
        Meter.CreateObservableCounter(IoBytesName, () => (Measurement<long>[])[new(Interlocked.Read(ref _bytesRead), s_read), new(Interlocked.Read(ref _bytesWritten), s_write)],
            "By", "Data bytes READ, READ_PLUS and WRITE moved");
        Meter.CreateObservableGauge(ClientsName, () => _server.Clients.ConfirmedCount, "{client}", "Confirmed client records");
        Meter.CreateObservableGauge(SessionsName, () => _server.Clients.SessionCount, "{session}", "Sessions");
        Meter.CreateObservableGauge(DelegationsName, () => _server.Delegations.Count, "{delegation}", "Outstanding delegations");
    }

    /// <summary>This server's meter (named <see cref="MeterName"/>); a listener may pick one server's instruments by it.</summary>
    public Meter Meter { get; }

    /// <summary>The RFC name of an operation ("READ", "EXCHANGE_ID"); "ILLEGAL" for a number outside the protocol.</summary>
    public static string OperationName(uint opnum) => (string)OperationTag(opnum).Value!;

    /// <summary>The RFC name of a status ("NFS4_OK", "NFS4ERR_DELAY").</summary>
    public static string StatusName(NfsStat4 status) => (string)StatusTag(status).Value!;

    /// <summary>The nfs.operation tag of a key (<see cref="IllegalKey"/>: ILLEGAL).</summary>
    private static KeyValuePair<string, object?> KeyTag(int key) => OperationTag((uint)key);

    private static KeyValuePair<string, object?> OperationTag(uint opnum) => opnum <= LastOpcode ? s_operation[opnum] : s_illegal;

    private static KeyValuePair<string, object?> StatusTag(NfsStat4 status)
    {
        uint value = (uint)status;
        if (value < (uint)s_lowStatus.Length)
            return s_lowStatus[value];
        value -= (uint)NfsStat4.BadHandle;
        return value < (uint)s_highStatus.Length ? s_highStatus[value] : s_unknownStatus;
    }

    private static KeyValuePair<string, object?>[] BuildOperationTags()
    {
        var tags = new KeyValuePair<string, object?>[LastOpcode + 1];
        for (uint op = 0; op <= LastOpcode; op++)
            tags[op] = s_opcodeNames.TryGetValue((NfsOpcode)op, out var name) ? new("nfs.operation", name) : s_illegal;
        return tags;
    }

    private static KeyValuePair<string, object?>[] BuildStatusTags(int first, int last)
    {
        var tags = new KeyValuePair<string, object?>[last - first + 1];
        for (int i = 0; i < tags.Length; i++)
            tags[i] = s_statusNames.TryGetValue((NfsStat4)(first + i), out var name) ? new("nfs.status", name) : new("nfs.status", $"NFS4ERR_{first + i}");
        return tags;
    }

    /// <summary>
    /// A timestamp to pass to <see cref="Operation"/> for a COMPOUND's first operation, or 0 when no one listens to the
    /// duration.
    /// </summary>
    internal long OperationClock() => _operationDurations.Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>
    /// One operation answered with <paramref name="status"/>; <paramref name="opnum"/> as the reply names it (ILLEGAL for an
    /// unknown one). <paramref name="clock"/> (from <see cref="OperationClock"/>) is when the operation started; its duration
    /// is recorded unless it is 0, and it becomes this operation's end, the next one's start.
    /// </summary>
    internal void Operation(uint opnum, NfsStat4 status, ref long clock)
    {
        int key = opnum <= LastOpcode ? (int)opnum : IllegalKey;
        if (_operations.Enabled)
            _operationCounts.Count(key, status);
        if (clock != 0)
        {
            long now = Stopwatch.GetTimestamp();
            _operationDurations.Record(key, Stopwatch.GetElapsedTime(clock, now).TotalSeconds);
            clock = now;
        }
    }

    /// <summary>An operation answered without being run (a position error): counted, no duration.</summary>
    internal void Operation(uint opnum, NfsStat4 status)
    {
        long none = 0;
        Operation(opnum, status, ref none);
    }

    internal void Compound(uint minorVersion, NfsStat4 status)
    {
        if (_compounds.Enabled)
            _compoundCounts.Count(minorVersion is 1 or 2 ? (int)minorVersion : 0, status);
    }

    private IEnumerable<Measurement<long>> ObserveOperations()
    {
        foreach (var (op, status, count) in _operationCounts.Snapshot())
            yield return new Measurement<long>(count, KeyTag(op), StatusTag(status));
    }

    private IEnumerable<Measurement<long>> ObserveCompounds()
    {
        foreach (var (minor, status, count) in _compoundCounts.Snapshot())
            yield return minor == 0 ? new Measurement<long>(count, StatusTag(status)) : new Measurement<long>(count, s_minorVersion[minor], StatusTag(status));
    }

    internal void IoRead(long bytes)
    {
        if (bytes > 0)
            Interlocked.Add(ref _bytesRead, bytes);
    }

    internal void IoWritten(long bytes)
    {
        if (bytes > 0)
            Interlocked.Add(ref _bytesWritten, bytes);
    }

    private static KeyValuePair<string, object?> TypeTag(DelegationState delegation) => s_delegationType[TypeIndex(delegation)];

    private static int TypeIndex(DelegationState delegation) => delegation.Type == DelegationType.Write ? 1 : 0;

    private void CountDelegation(int delegationEvent, DelegationState delegation) =>
        Interlocked.Increment(ref _delegationEvents[delegationEvent * 2 + TypeIndex(delegation)]);

    private Measurement<long>[] ObserveDelegations(int delegationEvent) =>
    [
        new(Interlocked.Read(ref _delegationEvents[delegationEvent * 2]), s_delegationType[0]),
        new(Interlocked.Read(ref _delegationEvents[delegationEvent * 2 + 1]), s_delegationType[1]),
    ];

    internal void DelegationGranted(DelegationState delegation) => CountDelegation(Granted, delegation);

    /// <summary>A recall starts (CB_RECALL about to go out): counted once per delegation, and its start kept for <see cref="RecallDurationName"/>.</summary>
    internal void DelegationRecalled(DelegationState delegation)
    {
        if (Interlocked.CompareExchange(ref delegation.RecallStarted, _server.Time.GetTimestamp(), 0) == 0)
            CountDelegation(Recalled, delegation);
    }

    internal void DelegationReturned(DelegationState delegation)
    {
        CountDelegation(Returned, delegation);
        RecallEnded(delegation, s_returned);
    }

    /// <summary>
    /// A live delegation was taken from its client for <paramref name="reason"/>; a recall in progress ends here, as
    /// revoked (so the slowest recalls, those an operator or a deadline ended, are in the recall histogram too).
    /// </summary>
    internal void DelegationRevoked(DelegationState delegation, RevokeReason reason)
    {
        Interlocked.Increment(ref _revocations[((int)reason * 2) + TypeIndex(delegation)]);
        RecallEnded(delegation, s_revoked);
    }

    private IEnumerable<Measurement<long>> ObserveRevocations()
    {
        for (int reason = 0; reason < s_revokeReason.Length; reason++)
        {
            for (int type = 0; type < 2; type++)
                yield return new Measurement<long>(Interlocked.Read(ref _revocations[(reason * 2) + type]), s_delegationType[type], s_revokeReason[reason]);
        }
    }

    /// <summary>
    /// The recall of <paramref name="delegation"/>, if one started, ended: measured on the server's clock, the one its
    /// deadline runs on.
    /// </summary>
    private void RecallEnded(DelegationState delegation, KeyValuePair<string, object?> outcome)
    {
        long started = Interlocked.Exchange(ref delegation.RecallStarted, 0);
        if (started != 0)
            _recallDuration.Record(_server.Time.GetElapsedTime(started).TotalSeconds, TypeTag(delegation), outcome);
    }

    /// <summary>
    /// Hands the operation durations kept since the last flush to <see cref="OperationDurationName"/>'s listeners (they go
    /// in batches, at least once a second: <see cref="BatchedHistogram"/>). Call before reading the histogram, as the
    /// admin endpoint does before each scrape.
    /// </summary>
    public void FlushDurations() => _operationDurations.Flush();

    public void Dispose()
    {
        _operationDurations.Dispose();
        Meter.Dispose();
    }
}

/// <summary>Why a live delegation was taken from its client (<see cref="Nfs4Metrics.DelegationsRevokedName"/>'s nfs.revoke.reason).</summary>
internal enum RevokeReason
{
    /// <summary>Not returned by the engine's deadline (RFC 8881 §10.2).</summary>
    Deadline,

    /// <summary>The administrator revoked the client's state (`leasehold client revoke`, §8.2.4).</summary>
    Administrator,

    /// <summary>Its client went: expired, destroyed, or a courtesy client expired (§8.4.3).</summary>
    ClientGone,
}
