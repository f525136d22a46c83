using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>RESTOREFH, RFC 8881 §18.27: NFS4ERR_RESTOREFH when nothing was saved.</summary>
internal sealed class RestoreFhOp : INfsOp<Unit, Unit>
{
    public static readonly RestoreFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.RestoreFh;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken)
    {
        if (ctx.SavedFh is not { } saved)
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.RestoreFh);
        ctx.CurrentFh = saved;
        ctx.CurrentStateId = ctx.SavedStateId;
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
