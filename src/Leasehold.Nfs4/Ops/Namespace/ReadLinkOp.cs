using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>READLINK, RFC 8881 §18.24.</summary>
internal sealed class ReadLinkOp : INfsOp<Unit, byte[]>
{
    public static readonly ReadLinkOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.ReadLink;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<byte[]>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<byte[]>>(status);
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return ValueTask.FromResult<OpResult<byte[]>>(attrs.Status.ToNfs());
        if (attrs.Value.Type != FileType.Symlink)
            return ValueTask.FromResult<OpResult<byte[]>>(attrs.Value.Type == FileType.Directory ? NfsStat4.IsDir : NfsStat4.Inval);
        var target = ctx.Tree.ReadLink(ctx.Caller, fh);
        return ValueTask.FromResult(target.IsOk ? OpResult<byte[]>.Ok(target.Value) : (OpResult<byte[]>)target.Status.ToNfs());
    }

    public static void Encode(in OpResult<byte[]> result, XdrWriter w)
    {
        if (result.IsOk)
            w.WriteOpaque(result.Value!); // the stored bytes, any charset
    }
}
