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

    /// <summary>
    /// What ALLOCATE and DEALLOCATE share: <see cref="SpaceStateIds.Check"/> with write access, then the operation's own range check
    /// (<paramref name="checkRange"/>: Ok or the status to answer), then <paramref name="change"/>.
    /// </summary>
    public async ValueTask<OpResult<Unit>> RunAsync(CompoundContext ctx, Func<SpaceRangeArgs, NfsStat4> checkRange,
        Func<IFileSpace, FileHandle, ValueTask<FsStatus>> change)
    {
        var status = SpaceStateIds.Check(ctx, StateId, Share.Write, out var fh, out var space, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        if ((status = checkRange(this)) != NfsStat4.Ok)
            return status;
        var done = await change(space, fh).ConfigureAwait(false);
        return done == FsStatus.Ok ? NfsStat4.Ok : IoStateIds.NotAFile(ctx, fh, done);
    }
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

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, SpaceRangeArgs args, CancellationToken cancellationToken) =>
        args.RunAsync(ctx,
            a => a.Length == 0 ? NfsStat4.Inval
                : a.Offset > ctx.Tree.MaxFileSize || a.Length > ctx.Tree.MaxFileSize - a.Offset ? NfsStat4.FBig
                : NfsStat4.Ok,
            (space, fh) => space.AllocateAsync(ctx.Caller, fh, (long)args.Offset, (long)args.Length, ctx.ChangeContext, cancellationToken));

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
