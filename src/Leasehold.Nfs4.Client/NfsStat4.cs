namespace Leasehold.Nfs4.Client;

/// <summary>
/// nfsstat4 (RFC 8881 §15.1, plus the RFC 7862 and RFC 8276 additions so a newer server's status still has a name).
/// Members are the RFC names without the NFS4ERR_ prefix, in PascalCase; the values are the wire values.
/// </summary>
public enum NfsStat4 : uint
{
    /// <summary>NFS4_OK</summary>
    Ok = 0,
    /// <summary>NFS4ERR_PERM</summary>
    Perm = 1,
    /// <summary>NFS4ERR_NOENT</summary>
    Noent = 2,
    /// <summary>NFS4ERR_IO</summary>
    Io = 5,
    /// <summary>NFS4ERR_NXIO</summary>
    Nxio = 6,
    /// <summary>NFS4ERR_ACCESS</summary>
    Access = 13,
    /// <summary>NFS4ERR_EXIST</summary>
    Exist = 17,
    /// <summary>NFS4ERR_XDEV</summary>
    Xdev = 18,
    /// <summary>NFS4ERR_NOTDIR</summary>
    Notdir = 20,
    /// <summary>NFS4ERR_ISDIR</summary>
    Isdir = 21,
    /// <summary>NFS4ERR_INVAL</summary>
    Inval = 22,
    /// <summary>NFS4ERR_FBIG</summary>
    Fbig = 27,
    /// <summary>NFS4ERR_NOSPC</summary>
    Nospc = 28,
    /// <summary>NFS4ERR_ROFS</summary>
    Rofs = 30,
    /// <summary>NFS4ERR_MLINK</summary>
    Mlink = 31,
    /// <summary>NFS4ERR_NAMETOOLONG</summary>
    Nametoolong = 63,
    /// <summary>NFS4ERR_NOTEMPTY</summary>
    Notempty = 66,
    /// <summary>NFS4ERR_DQUOT</summary>
    Dquot = 69,
    /// <summary>NFS4ERR_STALE</summary>
    Stale = 70,
    /// <summary>NFS4ERR_BADHANDLE</summary>
    Badhandle = 10001,
    /// <summary>NFS4ERR_BAD_COOKIE</summary>
    BadCookie = 10003,
    /// <summary>NFS4ERR_NOTSUPP</summary>
    Notsupp = 10004,
    /// <summary>NFS4ERR_TOOSMALL</summary>
    Toosmall = 10005,
    /// <summary>NFS4ERR_SERVERFAULT</summary>
    Serverfault = 10006,
    /// <summary>NFS4ERR_BADTYPE</summary>
    Badtype = 10007,
    /// <summary>NFS4ERR_DELAY</summary>
    Delay = 10008,
    /// <summary>NFS4ERR_SAME</summary>
    Same = 10009,
    /// <summary>NFS4ERR_DENIED</summary>
    Denied = 10010,
    /// <summary>NFS4ERR_EXPIRED</summary>
    Expired = 10011,
    /// <summary>NFS4ERR_LOCKED</summary>
    Locked = 10012,
    /// <summary>NFS4ERR_GRACE</summary>
    Grace = 10013,
    /// <summary>NFS4ERR_FHEXPIRED</summary>
    Fhexpired = 10014,
    /// <summary>NFS4ERR_SHARE_DENIED</summary>
    ShareDenied = 10015,
    /// <summary>NFS4ERR_WRONGSEC</summary>
    Wrongsec = 10016,
    /// <summary>NFS4ERR_CLID_INUSE</summary>
    ClidInuse = 10017,
    /// <summary>NFS4ERR_RESOURCE</summary>
    Resource = 10018,
    /// <summary>NFS4ERR_MOVED</summary>
    Moved = 10019,
    /// <summary>NFS4ERR_NOFILEHANDLE</summary>
    Nofilehandle = 10020,
    /// <summary>NFS4ERR_MINOR_VERS_MISMATCH</summary>
    MinorVersMismatch = 10021,
    /// <summary>NFS4ERR_STALE_CLIENTID</summary>
    StaleClientid = 10022,
    /// <summary>NFS4ERR_STALE_STATEID</summary>
    StaleStateid = 10023,
    /// <summary>NFS4ERR_OLD_STATEID</summary>
    OldStateid = 10024,
    /// <summary>NFS4ERR_BAD_STATEID</summary>
    BadStateid = 10025,
    /// <summary>NFS4ERR_BAD_SEQID</summary>
    BadSeqid = 10026,
    /// <summary>NFS4ERR_NOT_SAME</summary>
    NotSame = 10027,
    /// <summary>NFS4ERR_LOCK_RANGE</summary>
    LockRange = 10028,
    /// <summary>NFS4ERR_SYMLINK</summary>
    Symlink = 10029,
    /// <summary>NFS4ERR_RESTOREFH</summary>
    Restorefh = 10030,
    /// <summary>NFS4ERR_LEASE_MOVED</summary>
    LeaseMoved = 10031,
    /// <summary>NFS4ERR_ATTRNOTSUPP</summary>
    Attrnotsupp = 10032,
    /// <summary>NFS4ERR_NO_GRACE</summary>
    NoGrace = 10033,
    /// <summary>NFS4ERR_RECLAIM_BAD</summary>
    ReclaimBad = 10034,
    /// <summary>NFS4ERR_RECLAIM_CONFLICT</summary>
    ReclaimConflict = 10035,
    /// <summary>NFS4ERR_BADXDR</summary>
    Badxdr = 10036,
    /// <summary>NFS4ERR_LOCKS_HELD</summary>
    LocksHeld = 10037,
    /// <summary>NFS4ERR_OPENMODE</summary>
    Openmode = 10038,
    /// <summary>NFS4ERR_BADOWNER</summary>
    Badowner = 10039,
    /// <summary>NFS4ERR_BADCHAR</summary>
    Badchar = 10040,
    /// <summary>NFS4ERR_BADNAME</summary>
    Badname = 10041,
    /// <summary>NFS4ERR_BAD_RANGE</summary>
    BadRange = 10042,
    /// <summary>NFS4ERR_LOCK_NOTSUPP</summary>
    LockNotsupp = 10043,
    /// <summary>NFS4ERR_OP_ILLEGAL</summary>
    OpIllegal = 10044,
    /// <summary>NFS4ERR_DEADLOCK</summary>
    Deadlock = 10045,
    /// <summary>NFS4ERR_FILE_OPEN</summary>
    FileOpen = 10046,
    /// <summary>NFS4ERR_ADMIN_REVOKED</summary>
    AdminRevoked = 10047,
    /// <summary>NFS4ERR_CB_PATH_DOWN</summary>
    CbPathDown = 10048,
    /// <summary>NFS4ERR_BADIOMODE</summary>
    Badiomode = 10049,
    /// <summary>NFS4ERR_BADLAYOUT</summary>
    Badlayout = 10050,
    /// <summary>NFS4ERR_BAD_SESSION_DIGEST</summary>
    BadSessionDigest = 10051,
    /// <summary>NFS4ERR_BADSESSION</summary>
    Badsession = 10052,
    /// <summary>NFS4ERR_BADSLOT</summary>
    Badslot = 10053,
    /// <summary>NFS4ERR_COMPLETE_ALREADY</summary>
    CompleteAlready = 10054,
    /// <summary>NFS4ERR_CONN_NOT_BOUND_TO_SESSION</summary>
    ConnNotBoundToSession = 10055,
    /// <summary>NFS4ERR_DELEG_ALREADY_WANTED</summary>
    DelegAlreadyWanted = 10056,
    /// <summary>NFS4ERR_BACK_CHAN_BUSY</summary>
    BackChanBusy = 10057,
    /// <summary>NFS4ERR_LAYOUTTRYLATER</summary>
    Layouttrylater = 10058,
    /// <summary>NFS4ERR_LAYOUTUNAVAILABLE</summary>
    Layoutunavailable = 10059,
    /// <summary>NFS4ERR_NOMATCHING_LAYOUT</summary>
    NomatchingLayout = 10060,
    /// <summary>NFS4ERR_RECALLCONFLICT</summary>
    Recallconflict = 10061,
    /// <summary>NFS4ERR_UNKNOWN_LAYOUTTYPE</summary>
    UnknownLayouttype = 10062,
    /// <summary>NFS4ERR_SEQ_MISORDERED</summary>
    SeqMisordered = 10063,
    /// <summary>NFS4ERR_SEQUENCE_POS</summary>
    SequencePos = 10064,
    /// <summary>NFS4ERR_REQ_TOO_BIG</summary>
    ReqTooBig = 10065,
    /// <summary>NFS4ERR_REP_TOO_BIG</summary>
    RepTooBig = 10066,
    /// <summary>NFS4ERR_REP_TOO_BIG_TO_CACHE</summary>
    RepTooBigToCache = 10067,
    /// <summary>NFS4ERR_RETRY_UNCACHED_REP</summary>
    RetryUncachedRep = 10068,
    /// <summary>NFS4ERR_UNSAFE_COMPOUND</summary>
    UnsafeCompound = 10069,
    /// <summary>NFS4ERR_TOO_MANY_OPS</summary>
    TooManyOps = 10070,
    /// <summary>NFS4ERR_OP_NOT_IN_SESSION</summary>
    OpNotInSession = 10071,
    /// <summary>NFS4ERR_HASH_ALG_UNSUPP</summary>
    HashAlgUnsupp = 10072,
    /// <summary>NFS4ERR_CLIENTID_BUSY</summary>
    ClientidBusy = 10074,
    /// <summary>NFS4ERR_PNFS_IO_HOLE</summary>
    PnfsIoHole = 10075,
    /// <summary>NFS4ERR_SEQ_FALSE_RETRY</summary>
    SeqFalseRetry = 10076,
    /// <summary>NFS4ERR_BAD_HIGH_SLOT</summary>
    BadHighSlot = 10077,
    /// <summary>NFS4ERR_DEADSESSION</summary>
    Deadsession = 10078,
    /// <summary>NFS4ERR_ENCR_ALG_UNSUPP</summary>
    EncrAlgUnsupp = 10079,
    /// <summary>NFS4ERR_PNFS_NO_LAYOUT</summary>
    PnfsNoLayout = 10080,
    /// <summary>NFS4ERR_NOT_ONLY_OP</summary>
    NotOnlyOp = 10081,
    /// <summary>NFS4ERR_WRONG_CRED</summary>
    WrongCred = 10082,
    /// <summary>NFS4ERR_WRONG_TYPE</summary>
    WrongType = 10083,
    /// <summary>NFS4ERR_DIRDELEG_UNAVAIL</summary>
    DirdelegUnavail = 10084,
    /// <summary>NFS4ERR_REJECT_DELEG</summary>
    RejectDeleg = 10085,
    /// <summary>NFS4ERR_RETURNCONFLICT</summary>
    Returnconflict = 10086,
    /// <summary>NFS4ERR_DELEG_REVOKED</summary>
    DelegRevoked = 10087,
    /// <summary>NFS4ERR_PARTNER_NOTSUPP</summary>
    PartnerNotsupp = 10088,
    /// <summary>NFS4ERR_PARTNER_NO_AUTH</summary>
    PartnerNoAuth = 10089,
    /// <summary>NFS4ERR_UNION_NOTSUPP</summary>
    UnionNotsupp = 10090,
    /// <summary>NFS4ERR_OFFLOAD_DENIED</summary>
    OffloadDenied = 10091,
    /// <summary>NFS4ERR_WRONG_LFS</summary>
    WrongLfs = 10092,
    /// <summary>NFS4ERR_BADLABEL</summary>
    Badlabel = 10093,
    /// <summary>NFS4ERR_OFFLOAD_NO_REQS</summary>
    OffloadNoReqs = 10094,
    /// <summary>NFS4ERR_NOXATTR</summary>
    Noxattr = 10095,
    /// <summary>NFS4ERR_XATTR2BIG</summary>
    Xattr2big = 10096,
}
