using Leasehold.Rpc.Messages;

namespace Leasehold.Nfs4.Client.Rpc;

/// <summary>A call the server sent to us on the client's connection (the NFSv4.1 back channel, RFC 8881 §2.10.3.1).</summary>
public sealed record RpcIncomingCall(uint Xid, uint Program, uint Version, uint Procedure, RpcCredentials Credentials,
    ReadOnlyMemory<byte> Arguments);

/// <summary>The answer to an incoming call: an accept_stat and, on SUCCESS, the encoded results.</summary>
public readonly record struct RpcCallReply(AcceptStat Status, ReadOnlyMemory<byte> Results)
{
    public static RpcCallReply Success(ReadOnlyMemory<byte> results) => new(AcceptStat.Success, results);
}

/// <summary>
/// Serves calls that arrive on a client connection. Invoked off the read loop, one task per call, so a slow handler
/// never stalls replies to the client's own calls. Throwing answers SYSTEM_ERR.
/// </summary>
public interface IRpcCallHandler
{
    ValueTask<RpcCallReply> HandleCallAsync(RpcIncomingCall call, CancellationToken cancellationToken);
}
