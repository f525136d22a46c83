using Leasehold.Rpc.Messages;

namespace Leasehold.Nfs4.Client.Rpc;

/// <summary>
/// The server answered at the RPC level but did not run the call (RFC 5531 §9: MSG_DENIED, or MSG_ACCEPTED with an
/// accept_stat other than SUCCESS). NFS statuses are never exceptions; this is the RPC layer refusing the call.
/// </summary>
public sealed class RpcException : Exception
{
    public RpcException(string message, AcceptStat? acceptStat = null, RejectStat? rejectStat = null, AuthStat? authStat = null)
        : base(message)
    {
        AcceptStat = acceptStat;
        RejectStat = rejectStat;
        AuthStat = authStat;
    }

    public AcceptStat? AcceptStat { get; }
    public RejectStat? RejectStat { get; }
    public AuthStat? AuthStat { get; }
}
