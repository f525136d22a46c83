using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record SetAttrArgs(StateId StateId, uint[] Mask, byte[] Values);

/// <summary>SETATTR, RFC 8881 §18.30: the attrsset bitmap is part of the reply whatever the status.</summary>
internal sealed class SetAttrOp : INfsOp<SetAttrArgs, uint[]>
{
    public static readonly SetAttrOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SetAttr;

    public static SetAttrArgs Decode(ref XdrReader r) => new(StateId.Read(ref r), Wire.ReadBitmap(ref r), r.ReadOpaque(int.MaxValue).ToArray());

    public async ValueTask<OpResult<uint[]>> ExecuteAsync(CompoundContext ctx, SetAttrArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        status = FattrDecoder.Read(args.Mask, args.Values, ctx.Server.FattrFor(ctx.MinorVersion), creating: false, out var changes);
        if (status != NfsStat4.Ok)
            return status;
        // A size change writes the range it truncates or adds (§9.1.2): share reservations and the open's access apply.
        status = IoStateIds.Check(ctx, args.StateId, fh, changes.Size is null ? Share.None : Share.Write, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        if (changes.IsEmpty)
            return OpResult<uint[]>.Ok([]);
        var done = await ctx.Tree.SetAttributesAsync(ctx.Caller, fh, changes, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (!done.IsOk)
            return done.Status == FsStatus.IsDirectory && changes.Size is not null ? NfsStat4.IsDir : done.Status.ToNfs();
        return OpResult<uint[]>.Ok(args.Mask);
    }

    public static void Encode(in OpResult<uint[]> result, XdrWriter w) => Wire.WriteBitmap(w, result.Value ?? []);
}
