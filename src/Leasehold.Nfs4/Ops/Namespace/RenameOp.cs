using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>RENAME, RFC 8881 §18.26: from the saved filehandle's directory to the current one's.</summary>
internal sealed class RenameOp : INfsOp<(byte[] From, byte[] To), (ChangeInfo Source, ChangeInfo Target)>
{
    public static readonly RenameOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Rename;

    public static (byte[] From, byte[] To) Decode(ref XdrReader r) => (Names.ReadComponent(ref r), Names.ReadComponent(ref r));

    /// <summary>The rename is made durable (fsync of both directories, Export:SyncDirectoryChanges) before the answer.</summary>
    public static bool MayWaitOnDisk((byte[] From, byte[] To) args) => true;

    public async ValueTask<OpResult<(ChangeInfo Source, ChangeInfo Target)>> ExecuteAsync(CompoundContext ctx, (byte[] From, byte[] To) args, CancellationToken cancellationToken)
    {
        // One scope when both names are in one directory: two would overlap each other and neither be atomic.
        using var fromScope = Directories.BeginChange(ctx, ctx.SavedFh);
        using var toScope = ctx.SavedFh is { } s && ctx.CurrentFh is { } c && s.Equals(c) ? fromScope : Directories.BeginChange(ctx, ctx.CurrentFh);
        var status = Directories.RequireDirectory(ctx, ctx.SavedFh, NfsStat4.NoFileHandle, out var fromDir, out var fromBefore);
        if (status != NfsStat4.Ok)
            return status;
        status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var toDir, out var toBefore);
        if (status != NfsStat4.Ok)
            return status;
        status = State.Recovery.ReclaimRules.CheckDuringGrace(ctx.Server); // either name may be one a client is about to reclaim through
        if (status != NfsStat4.Ok)
            return status;
        status = Names.Validate(args.From, out var from);
        if (status != NfsStat4.Ok)
            return status;
        status = Names.Validate(args.To, out var to);
        if (status != NfsStat4.Ok)
            return status;
        var renamed = await ctx.Tree.RenameAsync(ctx.Caller, fromDir, from, toDir, to, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (renamed != FsStatus.Ok)
            return renamed.ToNfs();
        return OpResult<(ChangeInfo, ChangeInfo)>.Ok((Directories.Change(ctx, fromBefore, fromDir, fromScope), Directories.Change(ctx, toBefore, toDir, toScope)));
    }

    public static void Encode(in OpResult<(ChangeInfo Source, ChangeInfo Target)> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        result.Value.Source.Write(w);
        result.Value.Target.Write(w);
    }
}
