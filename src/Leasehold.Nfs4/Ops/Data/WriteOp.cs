using System.Buffers;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record WriteArgs(StateId StateId, ulong Offset, WriteStability Stable, ReadOnlyMemory<byte> Data);

/// <summary>WRITE, RFC 8881 §18.32: FILE_SYNC and DATA_SYNC data is on disk before the reply.</summary>
internal sealed class WriteOp : INfsOp<WriteArgs, (int Count, WriteStability Committed, ulong Verifier)>
{
    public static readonly WriteOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Write;

    public static WriteArgs Decode(ref XdrReader r)
    {
        var id = StateId.Read(ref r);
        ulong offset = r.ReadUInt64();
        uint stable = r.ReadUInt32();
        if (stable > 2)
            XdrException.Throw($"stable_how {stable}");
        // A slice of the call's record, not a copy: the record stays valid until the compound's reply is made (RpcCall).
        var data = r.ReadOpaqueMemory(int.MaxValue);
        return new WriteArgs(id, offset, (WriteStability)stable, data);
    }

    /// <summary>A FILE_SYNC or DATA_SYNC write waits for the disk; so may a large one (dirty-page throttling).</summary>
    public static bool MayWaitOnDisk(WriteArgs args) =>
        args.Stable != WriteStability.Unstable || args.Data.Length > DiskWait.LargeTransferBytes;

    public async ValueTask<OpResult<(int Count, WriteStability Committed, ulong Verifier)>> ExecuteAsync(CompoundContext ctx, WriteArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        status = IoStateIds.Check(ctx, args.StateId, fh, Share.Write, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        if (args.Data.Length > ctx.Server.Options.MaxReadWriteSize)
            return NfsStat4.Inval;
        // §18.32.3, as knfsd: a range that ends beyond the largest file (maxfilesize, the filesystem's limit) is FBIG,
        // before anything is written; an offset + length that overflows ends there too.
        ulong maxFileSize = ctx.Tree.MaxFileSize;
        if (args.Offset > maxFileSize || (ulong)args.Data.Length > maxFileSize - args.Offset)
            return NfsStat4.FBig;
        var written = await ctx.Tree.WriteAsync(ctx.Caller, fh, (long)args.Offset, args.Data, args.Stable, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (!written.IsOk)
            return IoStateIds.NotAFile(ctx, fh, written.Status);
        ctx.Server.Metrics.IoWritten(written.Value.Count);
        return OpResult<(int, WriteStability, ulong)>.Ok((written.Value.Count, written.Value.Committed, ctx.Server.BootVerifier));
    }

    public static void Encode(in OpResult<(int Count, WriteStability Committed, ulong Verifier)> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        w.WriteUInt32((uint)result.Value.Count);
        w.WriteUInt32((uint)result.Value.Committed);
        w.WriteUInt64(result.Value.Verifier);
    }
}
