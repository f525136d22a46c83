using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>REMOVE, RFC 8881 §18.25.</summary>
internal sealed class RemoveOp : INfsOp<byte[], ChangeInfo>
{
    public static readonly RemoveOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Remove;

    public static byte[] Decode(ref XdrReader r) => Names.ReadComponent(ref r);

    /// <summary>The removal is made durable (fsync of the directory, Export:SyncDirectoryChanges) before the answer.</summary>
    public static bool MayWaitOnDisk(byte[] args) => true;

    public async ValueTask<OpResult<ChangeInfo>> ExecuteAsync(CompoundContext ctx, byte[] raw, CancellationToken cancellationToken)
    {
        using var scope = Directories.BeginChange(ctx, ctx.CurrentFh);
        var status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var dir, out var before);
        if (status != NfsStat4.Ok)
            return status;
        status = State.Recovery.ReclaimRules.CheckDuringGrace(ctx.Server); // the name may be one a client is about to reclaim through
        if (status != NfsStat4.Ok)
            return status;
        status = Names.Validate(raw, out var name);
        if (status != NfsStat4.Ok)
            return status;
        var removed = await ctx.Tree.RemoveAsync(ctx.Caller, dir, name, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (removed != FsStatus.Ok)
            return removed.ToNfs();
        return OpResult<ChangeInfo>.Ok(Directories.Change(ctx, before, dir, scope));
    }

    public static void Encode(in OpResult<ChangeInfo> result, XdrWriter w)
    {
        if (result.IsOk)
            result.Value.Write(w);
    }
}
