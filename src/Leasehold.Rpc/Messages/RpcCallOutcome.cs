namespace Leasehold.Rpc.Messages;

/// <summary>How a call this side sent ended (see <see cref="Server.IRpcConnection.CallAsync"/>).</summary>
public enum RpcCallStatus
{
    /// <summary>MSG_ACCEPTED with SUCCESS: <see cref="RpcCallOutcome.Results"/> holds the procedure's results.</summary>
    Replied,

    /// <summary>MSG_DENIED (RFC 5531 §9): <see cref="RpcCallOutcome.RejectStat"/> says why, and for AUTH_ERROR <see cref="RpcCallOutcome.AuthStat"/>.</summary>
    Denied,

    /// <summary>MSG_ACCEPTED with another accept_stat (PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS, SYSTEM_ERR): <see cref="RpcCallOutcome.AcceptStat"/>.</summary>
    NotAccepted,

    /// <summary>No reply within the timeout (measured on the server's clock); a reply arriving later is dropped.</summary>
    TimedOut,

    /// <summary>The connection ended before the reply came, or was already closing; nothing more will arrive.</summary>
    Closed,

    /// <summary>Not sent: the connection already has <see cref="Server.RpcOptions.MaxOutgoingCallsPerConnection"/> calls waiting for replies.</summary>
    Refused,

    /// <summary>A reply with this xid arrived but its reply header could not be decoded (truncated, unknown reply_stat).</summary>
    Malformed,
}

/// <summary>
/// The end of one outgoing call, as a value: a thousand timed-out calls must not throw a thousand exceptions.
/// <see cref="Record"/> is the whole reply record (xid first, record marks removed) when one arrived;
/// the results (for <see cref="RpcCallStatus.Replied"/>) start at <see cref="ResultsOffset"/>.
/// </summary>
public readonly record struct RpcCallOutcome(RpcCallStatus Status, AcceptStat AcceptStat, byte[]? Record, int ResultsOffset)
{
    /// <summary>For <see cref="RpcCallStatus.Denied"/>: rejected_reply's reject_stat.</summary>
    public RejectStat RejectStat { get; init; }

    /// <summary>For <see cref="RpcCallStatus.Denied"/> with <see cref="RejectStat.AuthError"/>: the auth_stat.</summary>
    public AuthStat AuthStat { get; init; }

    /// <summary>The procedure's results (empty unless <see cref="Status"/> is <see cref="RpcCallStatus.Replied"/>).</summary>
    public ReadOnlySpan<byte> Results => Status == RpcCallStatus.Replied && Record is not null ? Record.AsSpan(ResultsOffset) : default;

    /// <summary>The same as <see cref="Results"/>, for keeping across an await.</summary>
    public ReadOnlyMemory<byte> ResultsMemory => Status == RpcCallStatus.Replied && Record is not null ? Record.AsMemory(ResultsOffset) : default;

    public static RpcCallOutcome TimedOut => new(RpcCallStatus.TimedOut, AcceptStat.Success, null, 0);

    public static RpcCallOutcome Closed => new(RpcCallStatus.Closed, AcceptStat.Success, null, 0);

    public static RpcCallOutcome Refused => new(RpcCallStatus.Refused, AcceptStat.Success, null, 0);
}
