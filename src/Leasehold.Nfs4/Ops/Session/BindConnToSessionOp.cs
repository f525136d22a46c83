using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// BIND_CONN_TO_SESSION, RFC 8881 §18.34: binds this connection to a session's fore channel, back channel or both.
/// CDFC4_FORE binds the fore channel only (answer CDFS4_FORE); CDFC4_BACK the back channel only (CDFS4_BACK);
/// CDFC4_FORE_OR_BOTH and CDFC4_BACK_OR_BOTH both (CDFS4_BOTH). A back binding is probed with CB_NULL (asynchronously)
/// and ends SEQ4_STATUS_CB_PATH_DOWN(_SESSION) once the probe is answered. Connections never bound for the back
/// channel are never used for callbacks. Errors: BADSESSION, INVAL for another direction.
/// </summary>
internal sealed class BindConnToSessionOp : INfsOp<(byte[] SessionId, uint Direction, bool Rdma), (byte[] SessionId, uint Direction)>
{
    public static readonly BindConnToSessionOp Instance = new();

    /// <summary>channel_dir_from_client4 and channel_dir_from_server4 (§18.34.1).</summary>
    private const uint Fore = 1, Back = 2, ForeOrBoth = 3, BackOrBoth = 7, Both = 3;

    public static NfsOpcode Opcode => NfsOpcode.BindConnToSession;

    public static (byte[] SessionId, uint Direction, bool Rdma) Decode(ref XdrReader r) => (Wire.ReadSessionId(ref r), r.ReadUInt32(), r.ReadBool());

    public ValueTask<OpResult<(byte[] SessionId, uint Direction)>> ExecuteAsync(CompoundContext ctx, (byte[] SessionId, uint Direction, bool Rdma) args, CancellationToken cancellationToken)
    {
        var session = ctx.Server.Clients.FindSession(args.SessionId);
        if (session is null)
            return ValueTask.FromResult<OpResult<(byte[], uint)>>(NfsStat4.BadSession);
        if (args.Direction is not (Fore or Back or ForeOrBoth or BackOrBoth))
            return ValueTask.FromResult<OpResult<(byte[], uint)>>(NfsStat4.Inval);
        uint bound = args.Direction is ForeOrBoth or BackOrBoth ? Both : args.Direction;
        var connection = ctx.Call.Connection;
        if (bound != Back)
        {
            session.BindFore(connection);
        }
        if (bound != Fore)
        {
            session.Back.Bind(connection);
            _ = session.Back.ProbeAsync(); // bounded by CallbackTimeout; the reply does not wait for it
        }
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
