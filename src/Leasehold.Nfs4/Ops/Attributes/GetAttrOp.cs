using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record GetAttrResult(uint[] Requested, FileAttributes Attributes, FileHandle Handle, FattrContext Server, Func<FsStats?> Stats);

/// <summary>GETATTR, RFC 8881 §18.7: the attributes asked for that we support; write-only ones are INVAL.</summary>
internal sealed class GetAttrOp : INfsOp<uint[], GetAttrResult>
{
    public static readonly GetAttrOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.GetAttr;

    public static uint[] Decode(ref XdrReader r) => Wire.ReadBitmap(ref r);

    public ValueTask<OpResult<GetAttrResult>> ExecuteAsync(CompoundContext ctx, uint[] requested, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<GetAttrResult>>(status);
        if (Attr.IsSet(requested, Attr.TimeAccessSet) || Attr.IsSet(requested, Attr.TimeModifySet))
            return ValueTask.FromResult<OpResult<GetAttrResult>>(NfsStat4.Inval);
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return ValueTask.FromResult<OpResult<GetAttrResult>>(attrs.Status.ToNfs());
        var tree = ctx.Tree;
        return ValueTask.FromResult(OpResult<GetAttrResult>.Ok(
            new GetAttrResult(requested, attrs.Value, fh, ctx.Server.Fattr, () => tree.GetFileSystemStats(fh) is { IsOk: true } s ? s.Value : null)));
    }

    public static void Encode(in OpResult<GetAttrResult> result, XdrWriter w)
    {
        if (result.Value is { } v)
            FattrEncoder.Write(w, v.Requested, v.Attributes, v.Handle, v.Server, v.Stats);
    }
}
