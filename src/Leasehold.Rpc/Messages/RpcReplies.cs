using Leasehold.Rpc.Framing;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Rpc.Messages;

/// <summary>
/// Builds reply records (RFC 5531 §9, reply_body). Every writer starts with four bytes reserved for the record mark;
/// <see cref="Finish"/> fills it in once the length is known.
/// </summary>
public static class RpcReplies
{
    private const int RecordMarkSize = 4;

    /// <summary>Room for a reply with no results (at most 40 bytes with its record mark): the pool's smallest size that fits.</summary>
    private const int SmallReply = 64;

    /// <summary>8 KiB (pooled): room for a 4 KiB READ and its COMPOUND without growing, the commonest large reply.</summary>
    private const int ResultsReply = 8192;

    /// <summary>A successful accepted reply whose results the caller appends; <paramref name="statusAt"/> is where the accept_stat sits.</summary>
    public static XdrWriter BeginSuccess(uint xid, out int statusAt)
    {
        var w = Begin(xid, ReplyStat.MsgAccepted, ResultsReply);
        WriteNullVerifier(w);
        statusAt = w.Position;
        w.WriteUInt32((uint)AcceptStat.Success);
        return w;
    }

    /// <summary>An accepted reply with no results (SUCCESS for NULL, PROG_UNAVAIL, PROC_UNAVAIL, GARBAGE_ARGS, SYSTEM_ERR).</summary>
    public static XdrWriter Accepted(uint xid, AcceptStat status)
    {
        var w = Begin(xid, ReplyStat.MsgAccepted, SmallReply);
        WriteNullVerifier(w);
        w.WriteUInt32((uint)status);
        Finish(w);
        return w;
    }

    /// <summary>PROG_MISMATCH with the supported version range.</summary>
    public static XdrWriter ProgMismatch(uint xid, uint low, uint high)
    {
        var w = Begin(xid, ReplyStat.MsgAccepted, SmallReply);
        WriteNullVerifier(w);
        w.WriteUInt32((uint)AcceptStat.ProgMismatch);
        w.WriteUInt32(low);
        w.WriteUInt32(high);
        Finish(w);
        return w;
    }

    /// <summary>MSG_DENIED / RPC_MISMATCH with the supported RPC version range.</summary>
    public static XdrWriter Denied(uint xid, RejectStat reason, uint low, uint high)
    {
        var w = Begin(xid, ReplyStat.MsgDenied, SmallReply);
        w.WriteUInt32((uint)reason);
        w.WriteUInt32(low);
        w.WriteUInt32(high);
        Finish(w);
        return w;
    }

    /// <summary>MSG_DENIED / AUTH_ERROR.</summary>
    public static XdrWriter Denied(uint xid, AuthStat reason)
    {
        var w = Begin(xid, ReplyStat.MsgDenied, SmallReply);
        w.WriteUInt32((uint)RejectStat.AuthError);
        w.WriteUInt32((uint)reason);
        Finish(w);
        return w;
    }

    /// <summary>Fills in the record mark: one fragment, the last, of everything written after it.</summary>
    public static void Finish(XdrWriter w)
    {
        w.PatchUInt32(0, RecordMarkScanner.LastFragmentMark(w.Position - RecordMarkSize));
    }

    private static XdrWriter Begin(uint xid, ReplyStat stat, int capacity)
    {
        var w = new XdrWriter(capacity);
        w.WriteUInt32(0); // record mark, filled in by Finish
        w.WriteUInt32(xid);
        w.WriteUInt32((uint)MsgType.Reply);
        w.WriteUInt32((uint)stat);
        return w;
    }

    private static void WriteNullVerifier(XdrWriter w)
    {
        w.WriteUInt32((uint)AuthFlavor.None);
        w.WriteUInt32(0);
    }
}
