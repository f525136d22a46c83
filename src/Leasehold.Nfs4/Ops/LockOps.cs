using Leasehold.Engine;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>nfs_lock_type4 and the shared range arithmetic of LOCK, LOCKT and LOCKU (RFC 8881 §18.10-§18.12).</summary>
internal static class Locking
{
    public const uint ReadLt = 1, WriteLt = 2, ReadwLt = 3, WritewLt = 4;

    public static bool IsValidType(uint type) => type is >= ReadLt and <= WritewLt;

    public static RangeLockType ToEngine(uint type) => type is WriteLt or WritewLt ? RangeLockType.Write : RangeLockType.Read;

    /// <summary>Offset and length to an inclusive range; a length of all ones means "to the end" (§18.10.3). INVAL otherwise.</summary>
    public static NfsStat4 Range(ulong offset, ulong length, out ulong start, out ulong end)
    {
        start = offset;
        end = 0;
        if (length == 0)
            return NfsStat4.Inval;
        if (length == ulong.MaxValue)
        {
            end = ulong.MaxValue;
            return NfsStat4.Ok;
        }
        if (length - 1 > ulong.MaxValue - offset)
            return NfsStat4.Inval;
        end = offset + length - 1;
        return NfsStat4.Ok;
    }

    /// <summary>LOCK4denied for the lock in the way.</summary>
    public static LockDenied Denied(CompoundContext ctx, RangeLock conflict)
    {
        var holder = ctx.Server.States.LockStateOf(conflict.Owner);
        ulong length = conflict.End == ulong.MaxValue ? ulong.MaxValue : conflict.End - conflict.Start + 1;
        return new LockDenied(conflict.Start, length, conflict.Type == RangeLockType.Write ? WriteLt : ReadLt,
            holder?.Client.ClientId ?? conflict.Owner.Group, holder?.LockOwner ?? []);
    }
}

internal sealed record LockDenied(ulong Offset, ulong Length, uint Type, ulong OwnerClientId, byte[] Owner)
{
    public void Write(XdrWriter w)
    {
        w.WriteUInt64(Offset);
        w.WriteUInt64(Length);
        w.WriteUInt32(Type);
        w.WriteUInt64(OwnerClientId);
        w.WriteOpaque(Owner);
    }
}

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
        // A reclaim is NFS4ERR_NO_GRACE before any other rule (no state survives a restart; see OpenOp).
        if (args.Reclaim)
            return NfsStat4.NoGrace;
        if (!Locking.IsValidType(args.Type))
            return NfsStat4.Inval;
        status = Locking.Range(args.Offset, args.Length, out ulong start, out ulong end);
        if (status != NfsStat4.Ok)
            return status;
        var client = ctx.Client!;
        if (!client.ReclaimComplete)
            return NfsStat4.Grace;

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
        var type = Locking.ToEngine(args.Type);
        var access = lockState.Open.Access;
        if ((type == RangeLockType.Write && (access & Share.Write) == 0) || (type == RangeLockType.Read && (access & Share.Read) == 0))
            return NfsStat4.OpenMode; // §18.10.4: the lock type must match how the file is open

        var conflict = ctx.Server.RangeLocks.TryLock(FileKey.From(lockState.Open.FileId), lockState.EngineOwner, type, start, end);
        if (conflict is { } c)
            return new OpResult<LockResult>(NfsStat4.Denied, new LockResult(default, Locking.Denied(ctx, c)));
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

internal sealed record LockTestArgs(uint Type, ulong Offset, ulong Length, byte[] Owner);

/// <summary>LOCKT, RFC 8881 §18.11: would this lock be granted? The owner's own locks never stand in its way.</summary>
internal sealed class LockTOp : INfsOp<LockTestArgs, LockDenied?>
{
    public static readonly LockTOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.LockT;

    public static LockTestArgs Decode(ref XdrReader r)
    {
        uint type = r.ReadUInt32();
        ulong offset = r.ReadUInt64();
        ulong length = r.ReadUInt64();
        r.ReadUInt64(); // clientid
        return new LockTestArgs(type, offset, length, r.ReadOpaque(Wire.MaxOpaque).ToArray());
    }

    public ValueTask<OpResult<LockDenied?>> ExecuteAsync(CompoundContext ctx, LockTestArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return Done(status);
        if (!Locking.IsValidType(args.Type))
            return Done(NfsStat4.Inval);
        status = Locking.Range(args.Offset, args.Length, out ulong start, out ulong end);
        if (status != NfsStat4.Ok)
            return Done(status);
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return Done(attrs.Status.ToNfs());
        switch (attrs.Value.Type)
        {
            case Export.FileType.Regular:
                break;
            case Export.FileType.Directory:
                return Done(NfsStat4.IsDir);
            case Export.FileType.Symlink:
                return Done(NfsStat4.Symlink); // §18.11.3
            default:
                return Done(NfsStat4.WrongType);
        }
        var client = ctx.Client!;
        var mine = ctx.Server.States.FindLockOwner(client, args.Owner, attrs.Value.FileId);
        var tester = mine?.EngineOwner ?? new Owner(client.ClientId, 0); // no locks yet: an owner nothing matches
        var conflict = ctx.Server.RangeLocks.Test(FileKey.From(attrs.Value.FileId), tester, Locking.ToEngine(args.Type), start, end);
        return conflict is { } c
            ? ValueTask.FromResult(new OpResult<LockDenied?>(NfsStat4.Denied, Locking.Denied(ctx, c)))
            : ValueTask.FromResult(OpResult<LockDenied?>.Ok(null));
    }

    private static ValueTask<OpResult<LockDenied?>> Done(NfsStat4 status) => ValueTask.FromResult<OpResult<LockDenied?>>(status);

    public static void Encode(in OpResult<LockDenied?> result, XdrWriter w)
    {
        if (result.Status == NfsStat4.Denied)
            result.Value?.Write(w);
    }
}

internal sealed record LockUArgs(uint Type, StateId StateId, ulong Offset, ulong Length);

/// <summary>LOCKU, RFC 8881 §18.12.</summary>
internal sealed class LockUOp : INfsOp<LockUArgs, StateId>
{
    public static readonly LockUOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.LockU;

    public static LockUArgs Decode(ref XdrReader r)
    {
        uint type = r.ReadUInt32();
        r.ReadUInt32(); // seqid
        return new LockUArgs(type, StateId.Read(ref r), r.ReadUInt64(), r.ReadUInt64());
    }

    public ValueTask<OpResult<StateId>> ExecuteAsync(CompoundContext ctx, LockUArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<StateId>>(status);
        if (!Locking.IsValidType(args.Type))
            return ValueTask.FromResult<OpResult<StateId>>(NfsStat4.Inval);
        status = Locking.Range(args.Offset, args.Length, out ulong start, out ulong end);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<StateId>>(status);
        status = ctx.Server.States.FindLock(ctx.Resolve(args.StateId), ctx.Client, out var lockState);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<StateId>>(status);
        if (lockState!.Open.File != fh)
            return ValueTask.FromResult<OpResult<StateId>>(NfsStat4.BadStateId);
        ctx.Server.RangeLocks.Unlock(FileKey.From(lockState.Open.FileId), lockState.EngineOwner, start, end);
        uint seq = Interlocked.Increment(ref lockState.SeqId);
        var id = new StateId(seq, lockState.Key.High, lockState.Key.Low);
        ctx.CurrentStateId = id;
        return ValueTask.FromResult(OpResult<StateId>.Ok(id));
    }

    public static void Encode(in OpResult<StateId> result, XdrWriter w)
    {
        if (result.IsOk)
            result.Value.Write(w);
    }
}
