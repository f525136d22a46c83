using Leasehold.Rpc.Xdr;

namespace Leasehold.Rpc.Messages;

/// <summary>
/// Builds call records (RFC 5531 §9, call_body), as <see cref="RpcReplies"/> builds replies: four bytes are reserved
/// for the record mark, and <see cref="RpcReplies.Finish"/> fills it in once the arguments are written.
/// </summary>
public static class RpcCalls
{
    private const uint RpcVersion = 2;

    /// <summary>
    /// A call header: xid, CALL, rpcvers 2, prog, vers, proc, the credentials and a null verifier (AUTH_NONE and
    /// AUTH_SYS have none). The caller appends the arguments, then calls <see cref="RpcReplies.Finish"/>.
    /// </summary>
    public static XdrWriter Begin(uint xid, uint program, uint version, uint procedure, RpcCredentials credentials, int capacity = 1024)
    {
        var w = new XdrWriter(capacity);
        try
        {
            w.WriteUInt32(0); // record mark, filled in by RpcReplies.Finish
            w.WriteUInt32(xid);
            w.WriteUInt32((uint)MsgType.Call);
            w.WriteUInt32(RpcVersion);
            w.WriteUInt32(program);
            w.WriteUInt32(version);
            w.WriteUInt32(procedure);
            credentials.Write(w);
            w.WriteUInt32((uint)AuthFlavor.None);
            w.WriteUInt32(0);
            return w;
        }
        catch
        {
            w.Dispose();
            throw;
        }
    }
}
