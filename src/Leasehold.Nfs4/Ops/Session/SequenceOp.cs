using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record SequenceArgs(byte[] SessionId, uint SequenceId, uint SlotId, uint HighestSlotId, bool CacheThis);

internal sealed record SequenceResult(byte[] SessionId, uint SequenceId, uint SlotId, uint HighestSlotId, uint TargetHighestSlotId, uint StatusFlags);

/// <summary>
/// SEQUENCE, RFC 8881 §18.46: names the session and slot, gives exactly-once semantics (§2.10.6.1) and renews the
/// client's lease. A retransmission of the slot's last request is answered from the reply cache.
/// </summary>
internal sealed class SequenceOp : INfsOp<SequenceArgs, SequenceResult>
{
    public static readonly SequenceOp Instance = new();

    /// <summary>A COMPOUND reply holding just SEQUENCE: status, empty tag, count, opcode, status, and the 36-byte result.</summary>
    private const uint MinimalReplySize = 4 + 4 + 4 + 4 + 4 + 36;

    public static NfsOpcode Opcode => NfsOpcode.Sequence;

    public static SequenceArgs Decode(ref XdrReader r) =>
        new(Wire.ReadSessionId(ref r), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadBool());

    public ValueTask<OpResult<SequenceResult>> ExecuteAsync(CompoundContext ctx, SequenceArgs args, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Execute(ctx, args));

    private static OpResult<SequenceResult> Execute(CompoundContext ctx, SequenceArgs args)
    {
        var session = ctx.Server.Clients.FindSession(args.SessionId);
        if (session is null)
            return NfsStat4.BadSession;
        if (ctx.OperationCount > session.Fore.MaxOperations)
            return NfsStat4.TooManyOps;
        if (ctx.Call.Arguments.Length > session.Fore.MaxRequestSize)
            return NfsStat4.ReqTooBig;
        if (args.SlotId >= session.Slots.Length)
            return NfsStat4.BadSlot;
        if (args.CacheThis && session.Fore.MaxResponseSizeCached < MinimalReplySize)
            return NfsStat4.RepTooBigToCache; // not even this SEQUENCE's own reply would fit the cache

        lock (session.Sync)
        {
            if (session.Destroyed)
                return NfsStat4.BadSession;
            var slot = session.Slots[args.SlotId];
            if (args.SequenceId == slot.SeqId)
            {
                if (slot.InUse)
                    return NfsStat4.Delay; // the original is still running
                if (slot.CachedReply is null)
                    return NfsStat4.RetryUncachedRep;
                ctx.ReplayReply = slot.CachedReply;
                return OpResult<SequenceResult>.Ok(Result(session.Id, args, session.Slots.Length));
            }
            if (args.SequenceId != unchecked(slot.SeqId + 1))
                return NfsStat4.SeqMisordered;
            slot.SeqId = args.SequenceId;
            slot.InUse = true;
            slot.CachedReply = null;
            ctx.Session = session;
            ctx.Slot = slot;
            ctx.CacheThis = args.CacheThis;
        }
        ctx.Server.Clients.Renew(session.Client);
        lock (session.Sync)
            session.Connections.Add(ctx.Call.Connection);
        return OpResult<SequenceResult>.Ok(Result(session.Id, args, session.Slots.Length));
    }

    private static SequenceResult Result(byte[] sessionId, SequenceArgs args, int slots) =>
        new(sessionId, args.SequenceId, args.SlotId, (uint)slots - 1, (uint)slots - 1, StatusFlags: 0);

    public static void Encode(in OpResult<SequenceResult> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteFixedOpaque(v.SessionId);
        w.WriteUInt32(v.SequenceId);
        w.WriteUInt32(v.SlotId);
        w.WriteUInt32(v.HighestSlotId);
        w.WriteUInt32(v.TargetHighestSlotId);
        w.WriteUInt32(v.StatusFlags);
    }
}
