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

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, SpaceRangeArgs args, CancellationToken cancellationToken) =>
        args.RunAsync(ctx,
            static a => a.Length == 0 || a.Length > ulong.MaxValue - a.Offset ? NfsStat4.Inval
                : a.Offset + a.Length > long.MaxValue ? NfsStat4.FBig
                : NfsStat4.Ok,
            (space, fh) => space.DeallocateAsync(ctx.Caller, fh, (long)args.Offset, (long)args.Length, ctx.ChangeContext, cancellationToken));

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
