using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed class SecInfoNoNameOp : INfsOp<uint, Unit>
{
    public static readonly SecInfoNoNameOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SecInfoNoName;

    public static uint Decode(ref XdrReader r) => r.ReadUInt32();

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, uint style, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<Unit>>(status);
        if (style > 1)
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.Inval);
        if (style == 1)
        {
            var attrs = ctx.Tree.GetAttributes(fh);
            if (!attrs.IsOk)
                return ValueTask.FromResult<OpResult<Unit>>(attrs.Status.ToNfs());
            if (attrs.Value.Type != FileType.Directory)
                return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.NotDir);
            var parent = ctx.Tree.LookupParent(ctx.Caller, fh);
            if (!parent.IsOk)
                return ValueTask.FromResult<OpResult<Unit>>(parent.Status.ToNfs());
        }
        ctx.CurrentFh = null; // §2.6.3.1.1.8: SECINFO_NO_NAME consumes the current filehandle
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
        if (result.IsOk)
            SecInfo.WriteFlavors(w);
    }
}
