using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed class SecInfoOp : INfsOp<byte[], Unit>
{
    public static readonly SecInfoOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SecInfo;

    public static byte[] Decode(ref XdrReader r) => Names.ReadComponent(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, byte[] raw, CancellationToken cancellationToken)
    {
        var status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var dir, out _);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<Unit>>(status);
        status = Names.Validate(raw, out var name);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<Unit>>(status);
        var found = ctx.Tree.Lookup(ctx.Caller, dir, name);
        if (!found.IsOk)
            return ValueTask.FromResult<OpResult<Unit>>(found.Status.ToNfs());
        ctx.CurrentFh = null; // SECINFO consumes the current filehandle too
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
        if (result.IsOk)
            SecInfo.WriteFlavors(w);
    }
}
