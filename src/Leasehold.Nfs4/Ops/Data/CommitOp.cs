using System.Buffers;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>COMMIT, RFC 8881 §18.3: earlier unstable writes reach the disk; the verifier tells the client whether we restarted since.</summary>
internal sealed class CommitOp : INfsOp<(ulong Offset, uint Count), ulong>
{
    public static readonly CommitOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Commit;

    public static (ulong Offset, uint Count) Decode(ref XdrReader r) => (r.ReadUInt64(), r.ReadUInt32());

    /// <summary>COMMIT is an fsync: always off the socket's event thread.</summary>
    public static bool MayWaitOnDisk((ulong Offset, uint Count) args) => true;

    public ValueTask<OpResult<ulong>> ExecuteAsync(CompoundContext ctx, (ulong Offset, uint Count) args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<ulong>>(status);
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return ValueTask.FromResult<OpResult<ulong>>(attrs.Status.ToNfs());
        if (attrs.Value.Type == FileType.Directory)
            return ValueTask.FromResult<OpResult<ulong>>(NfsStat4.IsDir);
        if (attrs.Value.Type != FileType.Regular)
            return ValueTask.FromResult<OpResult<ulong>>(attrs.Value.Type == FileType.Symlink ? NfsStat4.Symlink : NfsStat4.Inval);
        var committed = ctx.Tree.Commit(fh);
        return ValueTask.FromResult(committed.IsOk ? OpResult<ulong>.Ok(ctx.Server.BootVerifier) : (OpResult<ulong>)committed.Status.ToNfs());
    }

    public static void Encode(in OpResult<ulong> result, XdrWriter w)
    {
        if (result.IsOk)
            w.WriteUInt64(result.Value);
    }
}
