using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// OFFLOAD_CANCEL, RFC 7862 §15.8: stops the asynchronous copy oca_stateid onto CURRENT_FH and waits until it has
/// stopped (within one chunk of the copy), so that the destination no longer changes once the client has the answer;
/// the bytes copied until then stay. The copy stateid ends here (§4.8), and no CB_OFFLOAD follows (knfsd sends none
/// for a cancelled copy either). A copy stateid this client does not hold for this file is NFS4ERR_BAD_STATEID.
/// </summary>
internal sealed class OffloadCancelOp : INfsOp<StateId, Unit>
{
    public static readonly OffloadCancelOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.OffloadCancel;

    public static StateId Decode(ref XdrReader r) => StateId.Read(ref r);

    public async ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, StateId args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        if (ctx.Client is not { } client || ctx.Server.Offloads.Find(client, ctx.Resolve(args), fh) is not { } offload)
            return NfsStat4.BadStateId;
        await ctx.Server.Offloads.CancelAsync(offload).ConfigureAwait(false);
        return OpResult<Unit>.Ok(default);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
