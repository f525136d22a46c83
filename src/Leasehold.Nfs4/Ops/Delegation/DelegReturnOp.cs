using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// DELEGRETURN, RFC 8881 §18.6: gives a delegation of the current file back; the engine lets a conflicting operation
/// waiting on its recall through. No current filehandle: NOFILEHANDLE. A special stateid, an unknown one, another
/// client's, one already returned, or one for another file: BAD_STATEID; from an earlier server run: STALE_STATEID;
/// revoked by the server: DELEG_REVOKED (the client frees it with FREE_STATEID).
/// </summary>
internal sealed class DelegReturnOp : INfsOp<StateId, Unit>
{
    public static readonly DelegReturnOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.DelegReturn;

    public static StateId Decode(ref XdrReader r) => StateId.Read(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, StateId id, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var current, out var status))
            return ValueTask.FromResult<OpResult<Unit>>(status);
        status = ctx.Server.States.FindDelegation(ctx.Resolve(id), ctx.Client, out var delegation);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<Unit>>(status);
        if (delegation!.File != current || !ctx.Server.Delegations.Return(delegation))
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.BadStateId);
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
