using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// GETXATTR, RFC 8276 §8.4.2: the value of one user extended attribute of the current filehandle (a regular file or a
/// directory; else NFS4ERR_WRONG_TYPE). NFS4ERR_NOXATTR when there is none; NFS4ERR_ACCESS without read permission;
/// NFS4ERR_XATTR2BIG when the value would not fit the session's reply (§8.4.2 names that error for a value past the
/// channel's limits, not NFS4ERR_REP_TOO_BIG). Recalls no delegation (see <see cref="Xattrs"/>).
/// </summary>
internal sealed class GetXattrOp : INfsOp<byte[], byte[]>
{
    public static readonly GetXattrOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.GetXattr;

    public static byte[] Decode(ref XdrReader r) => Names.ReadComponent(ref r);

    public ValueTask<OpResult<byte[]>> ExecuteAsync(CompoundContext ctx, byte[] raw, CancellationToken cancellationToken)
    {
        NfsStat4 status;
        if ((status = Xattrs.Require(ctx, out var file, out var xattrs)) != NfsStat4.Ok || (status = Xattrs.Name(raw, out var name)) != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<byte[]>>(status);
        FsResult<byte[]> value = xattrs.Get(ctx.Caller, file, name);
        if (!value.IsOk)
            return ValueTask.FromResult<OpResult<byte[]>>(value.Status.ToNfs());
        if (4L + XdrReader.Padded(value.Value.Length) > Xattrs.ReplyRoom(ctx))
            return ValueTask.FromResult<OpResult<byte[]>>(NfsStat4.Xattr2Big);
        return ValueTask.FromResult(OpResult<byte[]>.Ok(value.Value));
    }

    public static void Encode(in OpResult<byte[]> result, XdrWriter w)
    {
        if (result.IsOk)
            w.WriteOpaque(result.Value);
    }
}
