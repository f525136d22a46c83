namespace Leasehold.Rpc.Messages;

// RFC 5531 §9 (message protocol) and §8.2 (authentication flavors). Names follow the RFC.

public enum MsgType : uint
{
    Call = 0,
    Reply = 1,
}

public enum ReplyStat : uint
{
    MsgAccepted = 0,
    MsgDenied = 1,
}

/// <summary>How an accepted call went (accept_stat).</summary>
public enum AcceptStat : uint
{
    Success = 0,
    ProgUnavail = 1,
    ProgMismatch = 2,
    ProcUnavail = 3,
    GarbageArgs = 4,
    SystemErr = 5,
}

public enum RejectStat : uint
{
    RpcMismatch = 0,
    AuthError = 1,
}

public enum AuthStat : uint
{
    Ok = 0,
    BadCred = 1,
    RejectedCred = 2,
    BadVerf = 3,
    RejectedVerf = 4,
    TooWeak = 5,
    InvalidResp = 6,
    Failed = 7,
}

public enum AuthFlavor : uint
{
    None = 0,
    Sys = 1,
    ShortHand = 2, // AUTH_SHORT
    Dh = 3,
    RpcSecGss = 6,
}
