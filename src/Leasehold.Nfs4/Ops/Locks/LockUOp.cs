using Leasehold.Engine;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

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
