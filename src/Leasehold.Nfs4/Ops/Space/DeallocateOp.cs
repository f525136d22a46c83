using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// DEALLOCATE, RFC 7862 §15.4: punches a hole over [offset, offset+length) of the current file; the range reads as
/// zeros afterwards and the size never changes, whatever the range. The stateid needs write access, as WRITE's. An
/// empty range is INVAL (fallocate's EINVAL), one whose end does not fit in 64 bits INVAL too, and one ending past
/// 2^63-1 (where no file reaches) FBIG, as knfsd's vfs_fallocate answers; the part of a range beyond the largest file
/// is nothing to free. The tree asks the change gate first (a change of the file's layout and data: other clients'
/// delegations and layouts are recalled, DELAY meanwhile; the caller's own stay).
/// </summary>
internal sealed class DeallocateOp : INfsOp<SpaceRangeArgs, Unit>
{
    public static readonly DeallocateOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Deallocate;

    public static SpaceRangeArgs Decode(ref XdrReader r) => SpaceRangeArgs.Read(ref r);

    /// <summary>Freeing extents (and the sync of a sync export) waits on the disk.</summary>
    public static bool MayWaitOnDisk(SpaceRangeArgs args) => true;

    public async ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, SpaceRangeArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        if (ctx.Tree.Space is not { } space)
            return NfsStat4.NotSupp;
        status = IoStateIds.Check(ctx, args.StateId, fh, Share.Write, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        if (args.Length == 0 || args.Length > ulong.MaxValue - args.Offset)
            return NfsStat4.Inval;
        if (args.Offset + args.Length > long.MaxValue)
            return NfsStat4.FBig;
        var done = await space.DeallocateAsync(ctx.Caller, fh, (long)args.Offset, (long)args.Length, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        return done == FsStatus.Ok ? NfsStat4.Ok : IoStateIds.NotAFile(ctx, fh, done);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
