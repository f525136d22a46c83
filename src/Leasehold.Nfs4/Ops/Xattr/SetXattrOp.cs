using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>SETXATTR4args: setxattr_option4 as sent (checked by the operation), the key, the value.</summary>
internal sealed record SetXattrArgs(uint Option, byte[] Name, byte[] Value);

/// <summary>
/// SETXATTR, RFC 8276 §8.4.3: sets one user extended attribute of the current filehandle and answers the file's
/// change_info4. SETXATTR4_CREATE on an existing name is NFS4ERR_EXIST, SETXATTR4_REPLACE on a missing one
/// NFS4ERR_NOXATTR, an option outside the enum NFS4ERR_INVAL; a value past the export's limit NFS4ERR_XATTR2BIG; no
/// write permission (nor ownership) NFS4ERR_ACCESS; a read-only export NFS4ERR_ROFS. Other clients' delegations on the
/// file are recalled first (NFS4ERR_DELAY meanwhile); the caller's own are not.
/// </summary>
internal sealed class SetXattrOp : INfsOp<SetXattrArgs, ChangeInfo>
{
    public static readonly SetXattrOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SetXattr;

    public static SetXattrArgs Decode(ref XdrReader r) =>
        new(r.ReadUInt32(), Names.ReadComponent(ref r), r.ReadOpaque(int.MaxValue).ToArray());

    public async ValueTask<OpResult<ChangeInfo>> ExecuteAsync(CompoundContext ctx, SetXattrArgs args, CancellationToken cancellationToken)
    {
        NfsStat4 status;
        if ((status = Xattrs.Require(ctx, out var file, out var xattrs)) != NfsStat4.Ok || (status = Xattrs.Name(args.Name, out var name)) != NfsStat4.Ok)
            return status;
        if (args.Option > (uint)XattrSetMode.Replace)
            return NfsStat4.Inval;
        var before = ctx.Tree.GetAttributes(file);
        if (!before.IsOk)
            return before.Status.ToNfs();
        var set = await xattrs.SetAsync(ctx.Caller, file, name, args.Value, (XattrSetMode)args.Option, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (set != FsStatus.Ok)
            return set.ToNfs();
        return OpResult<ChangeInfo>.Ok(Xattrs.Change(ctx, file, before.Value.Change));
    }

    public static void Encode(in OpResult<ChangeInfo> result, XdrWriter w)
    {
        if (result.IsOk)
            result.Value.Write(w);
    }
}
