using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// REMOVEXATTR, RFC 8276 §8.4.5: removes one user extended attribute of the current filehandle and answers the file's
/// change_info4. NFS4ERR_NOXATTR when there is none; otherwise the errors and recalls of <see cref="SetXattrOp"/>.
/// </summary>
internal sealed class RemoveXattrOp : INfsOp<byte[], ChangeInfo>
{
    public static readonly RemoveXattrOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.RemoveXattr;

    public static byte[] Decode(ref XdrReader r) => Names.ReadComponent(ref r);

    public async ValueTask<OpResult<ChangeInfo>> ExecuteAsync(CompoundContext ctx, byte[] raw, CancellationToken cancellationToken)
    {
        NfsStat4 status;
        if ((status = Xattrs.Require(ctx, out var file, out var xattrs)) != NfsStat4.Ok || (status = Xattrs.Name(raw, out var name)) != NfsStat4.Ok)
            return status;
        var before = ctx.Tree.GetAttributes(file);
        if (!before.IsOk)
            return before.Status.ToNfs();
        var removed = await xattrs.RemoveAsync(ctx.Caller, file, name, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (removed != FsStatus.Ok)
            return removed.ToNfs();
        return OpResult<ChangeInfo>.Ok(Xattrs.Change(ctx, file, before.Value.Change));
    }

    public static void Encode(in OpResult<ChangeInfo> result, XdrWriter w)
    {
        if (result.IsOk)
            result.Value.Write(w);
    }
}
