using System.Buffers;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>READ_PLUS's data in a pooled buffer (returned by <see cref="ReadPlusOp.Encode"/>), described by its segments.</summary>
internal sealed record ReadPlusResult(bool Eof, byte[] Buffer, long Offset, List<FileSegment> Segments);

/// <summary>
/// READ_PLUS, RFC 7862 §15.10: READ, with the file's holes sent as holes (NFS4_CONTENT_HOLE: offset and length, no
/// bytes) and its data as data (NFS4_CONTENT_DATA), in file order, adjacent runs of one kind merged. The stateid is
/// checked as READ's; at or past the end of the file the answer is no contents and rpr_eof, as READ's. The count is
/// capped as READ's (MaxReadWriteSize), and the contents are cut (rpr_eof then false) so the result is never larger
/// than READ's for the same count plus one data segment's header: a client sizes its reply buffer so (the Linux
/// client's decode_read_plus_maxsz holds one segment header), and the session's ca_maxresponsesize has room for it.
/// Every later segment header is paid for by the hole before it (20 bytes for at least a block of zeros), so a cut
/// happens only for a file whose holes are smaller than their headers.
/// </summary>
internal sealed class ReadPlusOp : INfsOp<ReadArgs, ReadPlusResult>
{
    public static readonly ReadPlusOp Instance = new();

    private const int DataSegmentHeader = 4 + 8 + 4; // rpc_content, d_offset, the opaque's length
    private const int HoleSegment = 4 + 8 + 8;       // rpc_content, di_offset, di_length

    public static NfsOpcode Opcode => NfsOpcode.ReadPlus;

    public static ReadArgs Decode(ref XdrReader r) => ReadOp.Decode(ref r);

    public static bool MayWaitOnDisk(ReadArgs args) => args.Count > DiskWait.LargeTransferBytes;

    public ValueTask<OpResult<ReadPlusResult>> ExecuteAsync(CompoundContext ctx, ReadArgs args, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Execute(ctx, args));

    private static OpResult<ReadPlusResult> Execute(CompoundContext ctx, ReadArgs args)
    {
        var status = SpaceStateIds.Check(ctx, args.StateId, Share.Read, out var fh, out var space, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        bool beyondAnyFile = args.Offset > long.MaxValue;
        int count = beyondAnyFile ? 0 : (int)Math.Min(args.Count, (uint)ctx.Server.Options.MaxReadWriteSize);
        long offset = beyondAnyFile ? long.MaxValue : (long)args.Offset;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(count, 1));
        var segments = new List<FileSegment>();
        var read = space.ReadSegments(ctx.Caller, fh, offset, buffer.AsSpan(0, count), segments);
        if (!read.IsOk)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return IoStateIds.NotAFile(ctx, fh, read.Status);
        }
        bool cut = FitReadsSize(segments, XdrReader.Padded(count) + DataSegmentHeader);
        long data = 0;
        foreach (var segment in segments)
            data += segment.IsHole ? 0 : segment.Length;
        ctx.Server.Metrics.IoRead(data); // the data segments' bytes sent; holes carry none
        return OpResult<ReadPlusResult>.Ok(new ReadPlusResult(read.Value.EndOfFile && !cut, buffer, offset, segments));
    }

    /// <summary>
    /// Cuts the segments from the end until their encoding takes no more than <paramref name="readBody"/> bytes; true
    /// when anything was cut. A hole costs its fixed size, so dropping it saves that;
    /// a data segment is shortened, and dropped when nothing of it is left.
    /// </summary>
    private static bool FitReadsSize(List<FileSegment> segments, int readBody)
    {
        long size = 0;
        foreach (var s in segments)
            size += s.IsHole ? HoleSegment : DataSegmentHeader + XdrReader.Padded((int)s.Length);
        bool cut = false;
        while (size > readBody && segments.Count > 0)
        {
            cut = true;
            var last = segments[^1];
            long excess = size - readBody;
            long cost = last.IsHole ? HoleSegment : DataSegmentHeader + XdrReader.Padded((int)last.Length);
            if (last.IsHole || last.Length <= excess)
            {
                segments.RemoveAt(segments.Count - 1);
                size -= cost;
                continue;
            }
            long keep = (last.Length - excess) & ~3L; // a multiple of 4 keeps the padding arithmetic exact
            if (keep <= 0)
            {
                segments.RemoveAt(segments.Count - 1);
                size -= cost;
                continue;
            }
            segments[^1] = last with { Length = keep };
            size = size - cost + DataSegmentHeader + keep;
        }
        return cut;
    }

    public static void Encode(in OpResult<ReadPlusResult> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteBool(v.Eof);
        w.WriteUInt32((uint)v.Segments.Count);
        foreach (var s in v.Segments)
        {
            w.WriteUInt32(s.IsHole ? 1u : 0u); // NFS4_CONTENT_HOLE, NFS4_CONTENT_DATA
            w.WriteUInt64((ulong)s.Offset);
            if (s.IsHole)
                w.WriteUInt64((ulong)s.Length);
            else
                w.WriteOpaque(v.Buffer.AsSpan((int)(s.Offset - v.Offset), (int)s.Length));
        }
        ArrayPool<byte>.Shared.Return(v.Buffer);
    }
}
