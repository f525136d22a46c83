using Leasehold.Rpc.Xdr;

namespace Leasehold.Rpc.Messages;

/// <summary>Decodes a reply record (RFC 5531 §9, reply_body) into an <see cref="RpcCallOutcome"/>, never throwing.</summary>
public static class RpcReplyReader
{
    /// <summary>
    /// Reads <paramref name="record"/> (the whole reply, xid first, record marks removed): MSG_ACCEPTED/SUCCESS is
    /// <see cref="RpcCallStatus.Replied"/> with the results' offset; another accept_stat is
    /// <see cref="RpcCallStatus.NotAccepted"/>; MSG_DENIED is <see cref="RpcCallStatus.Denied"/> with its
    /// reject_stat (and auth_stat); a header that does not decode, or an unknown reply_stat, is
    /// <see cref="RpcCallStatus.Malformed"/>. The verifier is skipped (AUTH_NONE and AUTH_SYS replies carry none we check).
    /// </summary>
    public static RpcCallOutcome Read(byte[] record)
    {
        try
        {
            var r = new XdrReader(record);
            r.Skip(4); // xid, matched by the caller
            if (r.ReadUInt32() != (uint)MsgType.Reply)
                return new RpcCallOutcome(RpcCallStatus.Malformed, AcceptStat.Success, record, 0);
            uint replyStat = r.ReadUInt32();
            if (replyStat == (uint)ReplyStat.MsgAccepted)
            {
                r.ReadUInt32(); // verifier flavor
                r.ReadOpaque(RpcCredentials.MaxAuthBody);
                uint accept = r.ReadUInt32();
                if (accept == (uint)AcceptStat.Success)
                    return new RpcCallOutcome(RpcCallStatus.Replied, AcceptStat.Success, record, r.Position);
                if (accept > (uint)AcceptStat.SystemErr)
                    return new RpcCallOutcome(RpcCallStatus.Malformed, AcceptStat.Success, record, 0);
                return new RpcCallOutcome(RpcCallStatus.NotAccepted, (AcceptStat)accept, record, r.Position);
            }
            if (replyStat != (uint)ReplyStat.MsgDenied)
                return new RpcCallOutcome(RpcCallStatus.Malformed, AcceptStat.Success, record, 0);
            uint reject = r.ReadUInt32();
            if (reject == (uint)RejectStat.RpcMismatch)
                return new RpcCallOutcome(RpcCallStatus.Denied, AcceptStat.Success, record, r.Position) { RejectStat = RejectStat.RpcMismatch };
            if (reject != (uint)RejectStat.AuthError)
                return new RpcCallOutcome(RpcCallStatus.Malformed, AcceptStat.Success, record, 0);
            var auth = (AuthStat)r.ReadUInt32();
            return new RpcCallOutcome(RpcCallStatus.Denied, AcceptStat.Success, record, r.Position) { RejectStat = RejectStat.AuthError, AuthStat = auth };
        }
        catch (XdrException)
        {
            return new RpcCallOutcome(RpcCallStatus.Malformed, AcceptStat.Success, record, 0);
        }
    }
}
