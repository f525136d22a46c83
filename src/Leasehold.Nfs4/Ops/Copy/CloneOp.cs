using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>CLONE4args (RFC 7862 §15.13.1).</summary>
internal sealed record CloneArgs(StateId SourceStateId, StateId DestinationStateId, ulong SourceOffset, ulong DestinationOffset, ulong Count);

/// <summary>
/// CLONE, RFC 7862 §15.13: the destination range (CURRENT_FH, written with cl_dst_stateid) shares the source range's
/// blocks (SAVED_FH, read with cl_src_stateid), by FICLONERANGE. NFS4ERR_NOTSUPP where the filesystem cannot clone
/// (clone_blksize 0), NFS4ERR_INVAL for offsets or a count not on clone_blksize boundaries (a count may run to the
/// source's end; 0 means to it) or overlapping ranges of one file. The destination's layout changes: the tree's
/// change gate recalls other clients' delegations and layouts (SpaceChange); another client's write delegation on the
/// source is recalled as for COPY.
/// </summary>
internal sealed class CloneOp : INfsOp<CloneArgs, Unit>
{
    public static readonly CloneOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Clone;

    public static CloneArgs Decode(ref XdrReader r) =>
        new(StateId.Read(ref r), StateId.Read(ref r), r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt64());

    /// <summary>The clone itself is metadata, but it is made stable (an fsync) before the reply.</summary>
    public static bool MayWaitOnDisk(CloneArgs args) => true;

    public async ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, CloneArgs args, CancellationToken cancellationToken)
    {
        var status = CopyRules.Begin(ctx, args.SourceStateId, args.DestinationStateId, args.SourceOffset, args.DestinationOffset, args.Count, out var start);
        if (status != NfsStat4.Ok)
            return status;
        using var held = start.Held;
        var (source, destination, space) = (start.Source, start.Destination, start.Space);
        var cloned = await space.CloneAsync(ctx.Caller, source, (long)args.SourceOffset, destination, (long)args.DestinationOffset, (long)args.Count,
            ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        return cloned == FsStatus.Ok ? OpResult<Unit>.Ok(default) : CopyRules.NotAFile(ctx, source, destination, cloned);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
