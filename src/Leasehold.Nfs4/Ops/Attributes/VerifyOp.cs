using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed class VerifyOp : VerifyBase, INfsOp<(uint[] Mask, byte[] Values), Unit>
{
    public static readonly VerifyOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Verify;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, (uint[] Mask, byte[] Values) args, CancellationToken cancellationToken)
    {
        var status = Compare(ctx, args, out bool same);
        if (status == NfsStat4.Ok && !same)
            status = NfsStat4.NotSame;
        return ValueTask.FromResult(status == NfsStat4.Ok ? OpResult<Unit>.Ok(default) : (OpResult<Unit>)status);
    }
}
