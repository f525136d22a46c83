using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>SAVEFH, RFC 8881 §18.27.</summary>
internal sealed class SaveFhOp : INfsOp<Unit, Unit>
{
    public static readonly SaveFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SaveFh;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<Unit>>(status);
        ctx.SavedFh = fh;
        ctx.SavedStateId = ctx.CurrentStateId;
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
