using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>SEQUENCE4args; the session id is a slice of the request, valid while the COMPOUND runs.</summary>
internal readonly record struct SequenceArgs(ReadOnlyMemory<byte> SessionId, uint SequenceId, uint SlotId, uint HighestSlotId, bool CacheThis);

internal readonly record struct SequenceResult(byte[] SessionId, uint SequenceId, uint SlotId, uint HighestSlotId, uint TargetHighestSlotId, uint StatusFlags);

/// <summary>
/// SEQUENCE, RFC 8881 §18.46: names the session and slot, gives exactly-once semantics (§2.10.6.1) and renews the
/// client's lease. A retransmission of the slot's last request is answered from the reply cache. sr_status_flags are
/// computed afresh on every reply (replays too): SEQ4_STATUS_CB_PATH_DOWN while no session of the client has a usable
/// back channel, SEQ4_STATUS_CB_PATH_DOWN_SESSION while this session's back channel is down (its connection closed,
/// or a callback got no answer) until a connection is bound to it again, SEQ4_STATUS_BACKCHANNEL_FAULT while its
/// client answers callbacks wrongly (§18.46.3).
/// </summary>
internal sealed class SequenceOp : INfsOp<SequenceArgs, SequenceResult>
{
    public static readonly SequenceOp Instance = new();

    /// <summary>A COMPOUND reply holding just SEQUENCE: status, empty tag, count, opcode, status, and the 36-byte result.</summary>
    private const uint MinimalReplySize = 4 + 4 + 4 + 4 + 4 + 36;

    /// <summary>SEQ4_STATUS_* bits (§18.46.3).</summary>
    public const uint StatusCbPathDown = 0x1, StatusAdminStateRevoked = 0x20, StatusRecallableStateRevoked = 0x40, StatusCbPathDownSession = 0x200,
        StatusBackchannelFault = 0x400;

    public static NfsOpcode Opcode => NfsOpcode.Sequence;

    public static SequenceArgs Decode(ref XdrReader r) =>
        new(r.ReadFixedOpaqueMemory(Wire.SessionIdSize), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadBool());

    public ValueTask<OpResult<SequenceResult>> ExecuteAsync(CompoundContext ctx, SequenceArgs args, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Execute(ctx, args));

    private static OpResult<SequenceResult> Execute(CompoundContext ctx, SequenceArgs args)
    {
        var session = ctx.Server.Clients.FindSession(args.SessionId.Span);
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

        uint flags = StatusFlags(session); // before the session's lock: it takes the client's and the back channels'
        lock (session.Sync)
        {
            if (session.Destroyed)
                return NfsStat4.BadSession;
            var slot = session.Slots[args.SlotId];
            if (args.SequenceId == slot.SeqId)
            {
                if (slot.InUse)
                    return NfsStat4.Delay; // the original is still running
                if (!slot.HasCachedReply)
                    return NfsStat4.RetryUncachedRep;
                ctx.ReplayReply = slot.CopyCachedReply();
                return OpResult<SequenceResult>.Ok(Result(session, args, flags));
            }
            if (args.SequenceId != unchecked(slot.SeqId + 1))
                return NfsStat4.SeqMisordered;
            slot.SeqId = args.SequenceId;
            slot.InUse = true;
            slot.ClearCachedReply();
            ctx.Session = session;
            ctx.Slot = slot;
            ctx.CacheThis = args.CacheThis;
        }
        ctx.Server.Clients.Renew(session.Client);
        session.BindFore(ctx.Call.Connection);
        return OpResult<SequenceResult>.Ok(Result(session, args, flags));
    }

    private static SequenceResult Result(State.Session session, SequenceArgs args, uint flags)
    {
        uint slots = (uint)session.Slots.Length;
        return new(session.Id, args.SequenceId, args.SlotId, slots - 1, slots - 1, flags);
    }

    /// <summary>The back-channel and revoked-state bits of sr_status_flags. Takes only the leaf locks of the client and back channels.</summary>
    private static uint StatusFlags(State.Session session)
    {
        uint flags = session.Client.HasUsableBackChannel() ? 0 : StatusCbPathDown;
        flags |= session.Back.State switch
        {
            BackChannelState.Down => StatusCbPathDownSession,
            BackChannelState.Fault => StatusBackchannelFault,
            _ => 0,
        };
        if (Volatile.Read(ref session.Client.RevokedDelegations) > 0)
            flags |= StatusRecallableStateRevoked; // until the client frees every revoked delegation (§18.46.3)
        if (Volatile.Read(ref session.Client.AdminRevokedStates) > 0)
            flags |= StatusAdminStateRevoked; // until the client frees every stateid an administrator revoked
        return flags;
    }

    public static void Encode(in OpResult<SequenceResult> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        var v = result.Value;
        w.WriteFixedOpaque(v.SessionId);
        w.WriteUInt32(v.SequenceId);
        w.WriteUInt32(v.SlotId);
        w.WriteUInt32(v.HighestSlotId);
        w.WriteUInt32(v.TargetHighestSlotId);
        w.WriteUInt32(v.StatusFlags);
    }
}
