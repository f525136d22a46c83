using System.Buffers;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record ReadArgs(StateId StateId, ulong Offset, uint Count);

/// <summary>READ's data, in a pooled buffer that <see cref="ReadOp.Encode"/> returns.</summary>
internal sealed record ReadResult(bool Eof, byte[] Buffer, int Count);

/// <summary>READ, RFC 8881 §18.22.</summary>
internal sealed class ReadOp : INfsOp<ReadArgs, ReadResult>
{
    public static readonly ReadOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Read;

    public static ReadArgs Decode(ref XdrReader r) => new(StateId.Read(ref r), r.ReadUInt64(), r.ReadUInt32());

    public static bool MayWaitOnDisk(ReadArgs args) => args.Count > DiskWait.LargeTransferBytes;

    public ValueTask<OpResult<ReadResult>> ExecuteAsync(CompoundContext ctx, ReadArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<ReadResult>>(status);
        status = IoStateIds.Check(ctx, args.StateId, fh, Share.Read, out var io);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<ReadResult>>(status);
        using var unreserved = io;
        // At or past the end of the file, at any offset, the answer is no data and eof (§18.22.3), never INVAL (a Linux
        // client retries that forever). No file reaches past 2^63-1: such a read asks the tree for 0 bytes there.
        bool beyondAnyFile = args.Offset > long.MaxValue;
        int count = beyondAnyFile ? 0 : (int)Math.Min(args.Count, (uint)ctx.Server.Options.MaxReadWriteSize);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(count, 1));
        var read = ctx.Tree.Read(ctx.Caller, fh, beyondAnyFile ? long.MaxValue : (long)args.Offset, buffer.AsSpan(0, count));
        if (!read.IsOk)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return ValueTask.FromResult<OpResult<ReadResult>>(IoStateIds.NotAFile(ctx, fh, read.Status));
        }
        ctx.Server.Metrics.IoRead(read.Value.Count);
        return ValueTask.FromResult(OpResult<ReadResult>.Ok(new ReadResult(read.Value.EndOfFile, buffer, read.Value.Count)));
    }

    public static void Encode(in OpResult<ReadResult> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteBool(v.Eof);
        w.WriteOpaque(v.Buffer.AsSpan(0, v.Count));
        ArrayPool<byte>.Shared.Return(v.Buffer);
    }
}
