using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>VERIFY (§18.31) and NVERIFY (§18.15): compare attribute values with the file's; SAME / NOT_SAME.</summary>
internal abstract class VerifyBase
{
    protected static NfsStat4 Compare(CompoundContext ctx, (uint[] Mask, byte[] Values) args, out bool same)
    {
        same = false;
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        var fattr = ctx.Server.FattrFor(ctx.MinorVersion);
        for (int attr = 0; attr < args.Mask.Length * 32; attr++)
        {
            if (!Attr.IsSet(args.Mask, attr))
                continue;
            if (!Attr.IsSet(fattr.Supported, attr))
                return NfsStat4.AttrNotSupp;
            if (attr is Attr.RdattrError or Attr.TimeAccessSet or Attr.TimeModifySet or Attr.ModeUmask or Attr.TimeDelegAccess or Attr.TimeDelegModify)
                return NfsStat4.Inval;
        }
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return attrs.Status.ToNfs();
        var tree = ctx.Tree;
        var ours = FattrEncoder.Values(args.Mask, attrs.Value, fh, fattr, tree);
        same = ours.AsSpan().SequenceEqual(args.Values);
        return NfsStat4.Ok;
    }

    public static (uint[] Mask, byte[] Values) Decode(ref XdrReader r) => (Wire.ReadBitmap(ref r), r.ReadOpaque(int.MaxValue).ToArray());

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
