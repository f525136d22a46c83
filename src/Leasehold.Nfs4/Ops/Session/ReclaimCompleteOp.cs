using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>RECLAIM_COMPLETE, RFC 8881 §18.51: the client is done reclaiming (we keep no state across restarts, so there is nothing to reclaim).</summary>
internal sealed class ReclaimCompleteOp : INfsOp<bool, Unit>
{
    public static readonly ReclaimCompleteOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.ReclaimComplete;

    public static bool Decode(ref XdrReader r) => r.ReadBool();

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, bool oneFs, CancellationToken cancellationToken)
    {
        var client = ctx.Client!;
        if (oneFs)
        {
            // Per-filesystem reclaim completion needs a current filehandle; with one filesystem it changes nothing.
            return ValueTask.FromResult(ctx.CurrentFh is null ? (OpResult<Unit>)NfsStat4.NoFileHandle : OpResult<Unit>.Ok(default));
        }
        lock (client.Sync)
        {
            if (client.ReclaimComplete)
                return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.CompleteAlready);
            client.ReclaimComplete = true;
        }
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
