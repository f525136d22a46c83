using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>BIND_CONN_TO_SESSION, RFC 8881 §18.34: binds this connection to a session, fore, back or both.</summary>
internal sealed class BindConnToSessionOp : INfsOp<(byte[] SessionId, uint Direction, bool Rdma), (byte[] SessionId, uint Direction)>
{
    public static readonly BindConnToSessionOp Instance = new();

    private const uint ForeOrBoth = 3, BackOrBoth = 7, Fore = 1, Back = 2, Both = 3;

    public static NfsOpcode Opcode => NfsOpcode.BindConnToSession;

    public static (byte[] SessionId, uint Direction, bool Rdma) Decode(ref XdrReader r) => (Wire.ReadSessionId(ref r), r.ReadUInt32(), r.ReadBool());

    public ValueTask<OpResult<(byte[] SessionId, uint Direction)>> ExecuteAsync(CompoundContext ctx, (byte[] SessionId, uint Direction, bool Rdma) args, CancellationToken cancellationToken)
    {
        var session = ctx.Server.Clients.FindSession(args.SessionId);
        if (session is null)
            return ValueTask.FromResult<OpResult<(byte[], uint)>>(NfsStat4.BadSession);
        if (args.Direction is not (Fore or Back or ForeOrBoth or BackOrBoth))
            return ValueTask.FromResult<OpResult<(byte[], uint)>>(NfsStat4.Inval);
        lock (session.Sync)
            session.Connections.Add(ctx.Call.Connection);
        uint bound = args.Direction is ForeOrBoth or BackOrBoth ? Both : args.Direction;
        return ValueTask.FromResult(OpResult<(byte[], uint)>.Ok((session.Id, bound)));
    }

    public static void Encode(in OpResult<(byte[] SessionId, uint Direction)> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        w.WriteFixedOpaque(result.Value.SessionId);
        w.WriteUInt32(result.Value.Direction);
        w.WriteBool(false); // no RDMA
    }
}
