using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// RECLAIM_COMPLETE, RFC 8881 §18.51: the client is done reclaiming; a second one is NFS4ERR_COMPLETE_ALREADY. The
/// global one (rca_one_fs FALSE) records the client in stable storage before it is answered, so it may reclaim after a
/// restart (knfsd records NFSv4.1 clients at this point too: OPEN and LOCK answer GRACE before it, so no state comes
/// first). A reclaimer is done reclaiming: when it is the last recorded client, the grace period ends now.
/// rca_one_fs TRUE needs a current filehandle and, with one filesystem, changes nothing.
/// </summary>
internal sealed class ReclaimCompleteOp : INfsOp<bool, Unit>
{
    public static readonly ReclaimCompleteOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.ReclaimComplete;

    public static bool Decode(ref XdrReader r) => r.ReadBool();

    /// <summary>The global one writes (and fsyncs) the client's record.</summary>
    public static bool MayWaitOnDisk(bool oneFs) => !oneFs;

    public async ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, bool oneFs, CancellationToken cancellationToken)
    {
        var client = ctx.Client!;
        if (oneFs)
            return ctx.CurrentFh is null ? NfsStat4.NoFileHandle : OpResult<Unit>.Ok(default);
        lock (client.Sync)
        {
            if (client.ReclaimComplete)
                return NfsStat4.CompleteAlready;
            client.ReclaimComplete = true;
        }
        await ctx.Server.Recorder.RecordAsync(client).ConfigureAwait(false);
        if (client.Reclaimer)
            await ctx.Server.Grace.CompletedAsync(client.OwnerId).ConfigureAwait(false);
        return OpResult<Unit>.Ok(default);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
