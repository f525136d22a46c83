using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// FREE_STATEID, RFC 8881 §18.38: frees a lock stateid holding no locks, or a delegation the server revoked (which
/// releases it), or any stateid an administrator revoked (NFS4ERR_ADMIN_REVOKED until then). An open must be closed instead, and an active delegation returned: LOCKS_HELD (knfsd does the same).
/// </summary>
internal sealed class FreeStateIdOp : INfsOp<StateId, Unit>
{
    public static readonly FreeStateIdOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.FreeStateId;

    public static StateId Decode(ref XdrReader r) => StateId.Read(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, StateId id, CancellationToken cancellationToken)
    {
        var resolved = ctx.Resolve(id);
        var states = ctx.Server.States;
        if (!resolved.IsSpecial && states.AdminRevoked.Free(new StateKey(resolved.OtherHigh, resolved.OtherLow), ctx.Client))
            return ValueTask.FromResult(OpResult<Unit>.Ok(default)); // state an administrator revoked: now forgotten
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
        if (states.IsDelegationKey(resolved))
        {
            var status = states.FindDelegation(resolved, ctx.Client, out var delegation);
            if (status == NfsStat4.DelegRevoked)
            {
                ctx.Server.Delegations.Release(delegation!);
                return ValueTask.FromResult(OpResult<Unit>.Ok(default));
            }
            return ValueTask.FromResult<OpResult<Unit>>(status == NfsStat4.Ok ? NfsStat4.LocksHeld : status);
        }
        var openStatus = states.FindOpen(resolved, ctx.Client, out _);
        return ValueTask.FromResult<OpResult<Unit>>(openStatus == NfsStat4.Ok ? NfsStat4.LocksHeld : openStatus);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
