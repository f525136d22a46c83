using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>OFFLOAD_STATUS4resok: the bytes copied so far, and once the copy is over, how it ended (osr_complete&lt;1&gt;).</summary>
internal readonly record struct OffloadStatusResult(long Count, NfsStat4? Complete);

/// <summary>
/// OFFLOAD_STATUS, RFC 7862 §15.9: how far the asynchronous copy osa_stateid onto CURRENT_FH has got. While it runs,
/// the bytes copied so far and an empty osr_complete; once over (until the client answers its CB_OFFLOAD), the bytes
/// copied and the copy's status. A copy stateid this client does not hold for this file (never made, cancelled, its
/// CB_OFFLOAD answered) is NFS4ERR_BAD_STATEID, as knfsd answers since 6.12.
/// </summary>
internal sealed class OffloadStatusOp : INfsOp<StateId, OffloadStatusResult>
{
    public static readonly OffloadStatusOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.OffloadStatus;

    public static StateId Decode(ref XdrReader r) => StateId.Read(ref r);

    public ValueTask<OpResult<OffloadStatusResult>> ExecuteAsync(CompoundContext ctx, StateId args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return new(status);
        if (ctx.Client is not { } client || ctx.Server.Offloads.Find(client, ctx.Resolve(args), fh) is not { } offload)
            return new(NfsStat4.BadStateId);
        long copied = offload.Copied;
        NfsStat4? complete = offload.Result is { } done ? (done.IsOk ? NfsStat4.Ok : done.Status.ToNfs()) : null;
        return new(OpResult<OffloadStatusResult>.Ok(new OffloadStatusResult(copied, complete)));
    }

    public static void Encode(in OpResult<OffloadStatusResult> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        w.WriteUInt64((ulong)result.Value.Count);
        if (result.Value.Complete is { } complete)
        {
            w.WriteUInt32(1);
            w.WriteUInt32((uint)complete);
        }
        else
        {
            w.WriteUInt32(0);
        }
    }
}
