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
