using Leasehold.Engine;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Nfs4.State.Recovery;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record LockArgs(uint Type, bool Reclaim, ulong Offset, ulong Length, bool NewOwner, StateId StateId, byte[]? Owner);

internal sealed record LockResult(StateId StateId, LockDenied? Denied);

/// <summary>LOCK, RFC 8881 §18.10: a new lock-owner comes with its open stateid, an existing one with its lock stateid.</summary>
internal sealed class LockOp : INfsOp<LockArgs, LockResult>
{
    public static readonly LockOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Lock;

    public static LockArgs Decode(ref XdrReader r)
    {
        uint type = r.ReadUInt32();
        bool reclaim = r.ReadBool();
        ulong offset = r.ReadUInt64();
        ulong length = r.ReadUInt64();
        bool newOwner = r.ReadBool();
        if (newOwner)
        {
            r.ReadUInt32(); // open_seqid
            var open = StateId.Read(ref r);
            r.ReadUInt32(); // lock_seqid
            r.ReadUInt64(); // lock_owner4.clientid: the session names the client
            var owner = r.ReadOpaque(Wire.MaxOpaque).ToArray();
            return new LockArgs(type, reclaim, offset, length, true, open, owner);
        }
        var lockId = StateId.Read(ref r);
        r.ReadUInt32(); // lock_seqid
        return new LockArgs(type, reclaim, offset, length, false, lockId, null);
    }

    public ValueTask<OpResult<LockResult>> ExecuteAsync(CompoundContext ctx, LockArgs args, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Execute(ctx, args));

    private static OpResult<LockResult> Execute(CompoundContext ctx, LockArgs args)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        var client = ctx.Client!;
        // Reclaim or not is decided first (see OpenOp): a client that may not reclaim hears NO_GRACE; a new lock waits
        // out the grace period and the client's own RECLAIM_COMPLETE (ReclaimRules).
        status = args.Reclaim ? ReclaimRules.CheckReclaim(ctx.Server, client) : NfsStat4.Ok;
        if (status != NfsStat4.Ok)
            return status;
        if (!Locking.IsValidType(args.Type))
            return NfsStat4.Inval;
        status = Locking.Range(args.Offset, args.Length, out ulong start, out ulong end);
        if (status != NfsStat4.Ok)
            return status;
        if (!args.Reclaim)
        {
            status = ReclaimRules.CheckNewState(ctx.Server, client);
            if (status != NfsStat4.Ok)
                return status;
        }

        var states = ctx.Server.States;
        LockState lockState;
        if (args.NewOwner)
        {
            status = states.FindOpen(ctx.Resolve(args.StateId), client, out var open);
            if (status != NfsStat4.Ok)
                return status;
            if (open!.File != fh)
                return NfsStat4.BadStateId;
            lockState = states.LockStateFor(open, args.Owner!);
        }
        else
        {
            status = states.FindLock(ctx.Resolve(args.StateId), client, out var existing);
            if (status != NfsStat4.Ok)
                return status;
            lockState = existing!;
            if (lockState.Open.File != fh)
                return NfsStat4.BadStateId;
        }
        if (args.Reclaim && !lockState.Open.Reclaimed)
            return NfsStat4.ReclaimBad; // §15.1.9: an open made after the restart cannot have held a lock before it
        var type = Locking.ToEngine(args.Type);
        var access = lockState.Open.Access;
        if ((type == RangeLockType.Write && (access & Share.Write) == 0) || (type == RangeLockType.Read && (access & Share.Read) == 0))
            return NfsStat4.OpenMode; // §18.10.4: the lock type must match how the file is open

        var key = FileKey.From(lockState.Open.FileId);
        var conflict = ctx.Server.RangeLocks.TryLock(key, lockState.EngineOwner, type, start, end);
        if (conflict is not null)
            conflict = Locking.ExpiringCourtesyHolders(ctx, conflict, () => ctx.Server.RangeLocks.TryLock(key, lockState.EngineOwner, type, start, end));
        if (conflict is { } c)
        {
            // During grace only reclaimed locks exist: a reclaim that conflicts with one is RECLAIM_CONFLICT (§15.1.9).
            if (args.Reclaim)
                return NfsStat4.ReclaimConflict;
            if (args.Type is Locking.ReadwLt or Locking.WritewLt)
            {
                // A blocking lock: the client polls for it; tell it when it may be free (CB_NOTIFY_LOCK, §9.6).
                ctx.Server.BlockedLocks.Denied(new BlockedLock(client, fh, lockState.Open.FileId, lockState.LockOwner, lockState.EngineOwner, type,
                    start, end, ctx.Server.Time.GetTimestamp()));
            }
            return new OpResult<LockResult>(NfsStat4.Denied, new LockResult(default, Locking.Denied(ctx, c)));
        }
        ctx.Server.BlockedLocks.Granted(lockState.Open.FileId, client, lockState.LockOwner);
        if (args.Reclaim)
            ctx.Server.Grace.Reclaimed();
        uint seq = Interlocked.Increment(ref lockState.SeqId);
        var id = new StateId(seq, lockState.Key.High, lockState.Key.Low);
        ctx.CurrentStateId = id;
        return OpResult<LockResult>.Ok(new LockResult(id, null));
    }

    public static void Encode(in OpResult<LockResult> result, XdrWriter w)
    {
        if (result.Status == NfsStat4.Ok)
            result.Value!.StateId.Write(w);
        else if (result.Status == NfsStat4.Denied && result.Value?.Denied is { } denied)
            denied.Write(w);
    }
}
