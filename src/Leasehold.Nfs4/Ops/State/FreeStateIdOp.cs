using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>FREE_STATEID, RFC 8881 §18.38: an open must be closed instead (LOCKS_HELD).</summary>
internal sealed class FreeStateIdOp : INfsOp<StateId, Unit>
{
    public static readonly FreeStateIdOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.FreeStateId;

    public static StateId Decode(ref XdrReader r) => StateId.Read(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, StateId id, CancellationToken cancellationToken)
    {
        var resolved = ctx.Resolve(id);
        var states = ctx.Server.States;
        if (states.IsLockKey(resolved))
        {
            var status = states.FindLock(resolved, ctx.Client, out var lockState);
            if (status != NfsStat4.Ok)
                return ValueTask.FromResult<OpResult<Unit>>(status);
            if (ctx.Server.RangeLocks.Holds(Engine.FileKey.From(lockState!.Open.FileId), lockState.EngineOwner))
                return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.LocksHeld);
            states.Free(lockState);
            return ValueTask.FromResult(OpResult<Unit>.Ok(default));
        }
        var openStatus = states.FindOpen(resolved, ctx.Client, out _);
        return ValueTask.FromResult<OpResult<Unit>>(openStatus == NfsStat4.Ok ? NfsStat4.LocksHeld : openStatus);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
