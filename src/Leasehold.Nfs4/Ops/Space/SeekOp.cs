using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>SEEK4args (RFC 7862 §15.11): sa_what is data_content4, kept raw so that an unknown value is answered, not BADXDR.</summary>
internal sealed record SeekArgs(StateId StateId, ulong Offset, uint What);

/// <summary>seek_res4: sr_eof, sr_offset.</summary>
internal readonly record struct SeekResult(bool Eof, ulong Offset);

/// <summary>
/// SEEK, RFC 7862 §15.11: where the next data (NFS4_CONTENT_DATA) or hole (NFS4_CONTENT_HOLE) starts at or after
/// sa_offset, as lseek(2) SEEK_DATA / SEEK_HOLE finds it (the end of the file is a hole). The stateid is checked as
/// READ's. Rules of §15.11.3:
/// <list type="bullet">
/// <item>sa_offset at or past the end of the file: NFS4ERR_NXIO.</item>
/// <item>No data after sa_offset (only a hole to the end): NFS4_OK with sr_eof true and sr_offset the file's size, so a
/// Linux client (which answers ENXIO for a SEEK_DATA with sr_eof) and the RFC agree.</item>
/// <item>Found: sr_offset is where it starts; sr_eof is true when that is the end of the file (the hole there), as
/// knfsd sets it.</item>
/// </list>
/// Another sa_what is NFS4ERR_UNION_NOTSUPP, as knfsd answers.
/// </summary>
internal sealed class SeekOp : INfsOp<SeekArgs, SeekResult>
{
    public static readonly SeekOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Seek;

    public static SeekArgs Decode(ref XdrReader r) => new(StateId.Read(ref r), r.ReadUInt64(), r.ReadUInt32());

    public ValueTask<OpResult<SeekResult>> ExecuteAsync(CompoundContext ctx, SeekArgs args, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Execute(ctx, args));

    private static OpResult<SeekResult> Execute(CompoundContext ctx, SeekArgs args)
    {
        var status = SpaceStateIds.Check(ctx, args.StateId, Share.Read, out var fh, out var space, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        if (args.What > (uint)SeekContent.Hole)
            return NfsStat4.UnionNotSupp;
        var what = (SeekContent)args.What;
        if (args.Offset > long.MaxValue)
            return NfsStat4.Nxio; // past the end of any file
        var found = space.Seek(ctx.Caller, fh, (long)args.Offset, what);
        if (found.Status is not (FsStatus.Ok or FsStatus.NoData))
            return IoStateIds.NotAFile(ctx, fh, found.Status);
        var attributes = ctx.Tree.GetAttributes(fh);
        if (!attributes.IsOk)
            return attributes.Status.ToNfs();
        ulong size = attributes.Value.Size;
        if (found.Status == FsStatus.NoData)
        {
            // ENXIO: past the end, or (for data) only a hole from sa_offset to the end of the file.
            return what == SeekContent.Data && args.Offset < size ? OpResult<SeekResult>.Ok(new SeekResult(true, size)) : NfsStat4.Nxio;
        }
        return OpResult<SeekResult>.Ok(new SeekResult((ulong)found.Value >= size, (ulong)found.Value));
    }

    public static void Encode(in OpResult<SeekResult> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        w.WriteBool(result.Value.Eof);
        w.WriteUInt64(result.Value.Offset);
    }
}
