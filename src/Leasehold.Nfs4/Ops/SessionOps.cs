using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>DESTROY_SESSION, RFC 8881 §18.37.</summary>
internal sealed class DestroySessionOp : INfsOp<byte[], Unit>
{
    public static readonly DestroySessionOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.DestroySession;

    public static byte[] Decode(ref XdrReader r) => Wire.ReadSessionId(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, byte[] sessionId, CancellationToken cancellationToken)
    {
        var session = ctx.Server.Clients.FindSession(sessionId);
        if (session is null || !ctx.Server.Clients.DestroySession(session))
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.BadSession);
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}

/// <summary>DESTROY_CLIENTID, RFC 8881 §18.50: refused with CLIENTID_BUSY while the client has sessions, opens or locks.</summary>
internal sealed class DestroyClientIdOp : INfsOp<ulong, Unit>
{
    public static readonly DestroyClientIdOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.DestroyClientId;

    public static ulong Decode(ref XdrReader r) => r.ReadUInt64();

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, ulong clientId, CancellationToken cancellationToken)
    {
        var status = ctx.Server.Clients.DestroyClient(clientId);
        return ValueTask.FromResult(status == NfsStat4.Ok ? OpResult<Unit>.Ok(default) : (OpResult<Unit>)status);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}

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
