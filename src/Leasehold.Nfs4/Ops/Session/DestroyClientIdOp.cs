using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>DESTROY_CLIENTID, RFC 8881 §18.50: refused with CLIENTID_BUSY while the client has sessions, opens or locks; removes the client's stable record.</summary>
internal sealed class DestroyClientIdOp : INfsOp<ulong, Unit>
{
    public static readonly DestroyClientIdOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.DestroyClientId;

    public static ulong Decode(ref XdrReader r) => r.ReadUInt64();

    /// <summary>Removing the client's record from stable storage waits for an fsync.</summary>
    public static bool MayWaitOnDisk(ulong clientId) => true;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, ulong clientId, CancellationToken cancellationToken)
    {
        var status = ctx.Server.Clients.DestroyClient(clientId);
        return ValueTask.FromResult(status == NfsStat4.Ok ? OpResult<Unit>.Ok(default) : (OpResult<Unit>)status);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
