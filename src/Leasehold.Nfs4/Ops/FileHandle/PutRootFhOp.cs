using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>PUTROOTFH, RFC 8881 §18.21.</summary>
internal sealed class PutRootFhOp : INfsOp<Unit, Unit>
{
    public static readonly PutRootFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.PutRootFh;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken)
    {
        ctx.CurrentFh = ctx.Tree.RootHandle;
        ctx.CurrentStateId = StateId.Invalid;
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
