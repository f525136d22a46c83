using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>ALLOCATE4args and DEALLOCATE4args (RFC 7862 §15.1, §15.4): a stateid and a byte range.</summary>
internal sealed record SpaceRangeArgs(StateId StateId, ulong Offset, ulong Length)
{
    public static SpaceRangeArgs Read(ref XdrReader r) => new(StateId.Read(ref r), r.ReadUInt64(), r.ReadUInt64());
}

/// <summary>
/// ALLOCATE, RFC 7862 §15.1: reserves the blocks of [offset, offset+length) on the current file, growing it when the
/// range ends past its size. The stateid needs write access, as WRITE's (<see cref="IoStateIds"/>). As WRITE, a range
/// ending beyond the largest file (maxfilesize) is FBIG before anything is done; an empty range is INVAL (fallocate's
/// EINVAL, which knfsd answers). The tree asks the change gate first: other clients' delegations and layouts are
/// recalled (DELAY meanwhile), the caller's own stay.
/// </summary>
internal sealed class AllocateOp : INfsOp<SpaceRangeArgs, Unit>
{
    public static readonly AllocateOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Allocate;

    public static SpaceRangeArgs Decode(ref XdrReader r) => SpaceRangeArgs.Read(ref r);

    /// <summary>Reserving blocks (and the sync of a sync export) waits on the disk.</summary>
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
        if (args.Length == 0)
            return NfsStat4.Inval;
        ulong maxFileSize = ctx.Tree.MaxFileSize;
        if (args.Offset > maxFileSize || args.Length > maxFileSize - args.Offset)
            return NfsStat4.FBig;
        var done = await space.AllocateAsync(ctx.Caller, fh, (long)args.Offset, (long)args.Length, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        return done == FsStatus.Ok ? NfsStat4.Ok : IoStateIds.NotAFile(ctx, fh, done);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
