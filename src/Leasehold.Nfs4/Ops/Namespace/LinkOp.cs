using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>LINK, RFC 8881 §18.9: the saved filehandle is the file, the current one the directory.</summary>
internal sealed class LinkOp : INfsOp<byte[], ChangeInfo>
{
    public static readonly LinkOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Link;

    public static byte[] Decode(ref XdrReader r) => Names.ReadComponent(ref r);

    /// <summary>The new link is made durable (fsync of the directory, Export:SyncDirectoryChanges) before the answer.</summary>
    public static bool MayWaitOnDisk(byte[] args) => true;

    public async ValueTask<OpResult<ChangeInfo>> ExecuteAsync(CompoundContext ctx, byte[] raw, CancellationToken cancellationToken)
    {
        if (ctx.SavedFh is not { } file)
            return NfsStat4.NoFileHandle;
        using var scope = Directories.BeginChange(ctx, ctx.CurrentFh);
        var status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var dir, out var before);
        if (status != NfsStat4.Ok)
            return status;
        var source = ctx.Tree.GetAttributes(file);
        if (!source.IsOk)
            return source.Status.ToNfs();
        if (source.Value.Type == FileType.Directory)
            return NfsStat4.IsDir;
        status = Names.Validate(raw, out var name);
        if (status != NfsStat4.Ok)
            return status;
        var linked = await ctx.Tree.LinkAsync(ctx.Caller, file, dir, name, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (!linked.IsOk)
            return linked.Status.ToNfs();
        return OpResult<ChangeInfo>.Ok(Directories.Change(ctx, before, dir, scope));
    }

    public static void Encode(in OpResult<ChangeInfo> result, XdrWriter w)
    {
        if (result.IsOk)
            result.Value.Write(w);
    }
}
