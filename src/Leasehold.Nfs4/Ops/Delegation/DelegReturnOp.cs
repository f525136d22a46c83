using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>DELEGRETURN, RFC 8881 §18.6: we grant no delegations yet, so there is none to return.</summary>
internal sealed class DelegReturnOp : INfsOp<StateId, Unit>
{
    public static readonly DelegReturnOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.DelegReturn;

    public static StateId Decode(ref XdrReader r) => StateId.Read(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, StateId id, CancellationToken cancellationToken) =>
        ValueTask.FromResult<OpResult<Unit>>(ctx.CurrentFh is null ? NfsStat4.NoFileHandle : NfsStat4.BadStateId);

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
