using System.Net;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Rpc.Server;

/// <summary>An ONC RPC program served by <see cref="RpcServer"/> (NFS is program 100003).</summary>
public interface IRpcProgram
{
    uint Program { get; }

    uint LowVersion { get; }

    uint HighVersion { get; }

    /// <summary>
    /// Runs one call. The server answers procedure 0 (NULL) itself and never passes it here. On
    /// <see cref="AcceptStat.Success"/> the results are what was written to <paramref name="results"/>; on any other
    /// status they are discarded. An <see cref="XdrException"/> thrown while decoding arguments becomes GARBAGE_ARGS.
    /// </summary>
    ValueTask<AcceptStat> HandleAsync(RpcCall call, XdrWriter results, CancellationToken cancellationToken);
}

/// <summary>The connection a call arrived on, as the program sees it: enough to send calls back (the NFSv4.1 back channel).</summary>
public interface IRpcConnection
{
    /// <summary>Unique for the life of the server; used in logs.</summary>
    long Id { get; }

    EndPoint? RemoteEndPoint { get; }

    /// <summary>Cancelled when the connection closes.</summary>
    CancellationToken Closed { get; }

    /// <summary>
    /// Says the program keeps state tied to this connection (NFSv4.1: it is bound to a session, whose back channel
    /// may ride on it). From then on, for the life of the connection, it is closed for idleness only after
    /// <see cref="RpcOptions.BoundIdleTimeout"/> instead of <see cref="RpcOptions.IdleTimeout"/>, and at
    /// <see cref="RpcOptions.MaxConnections"/> it is closed to make room only when no unbound connection is idle.
    /// Cheap and idempotent: call it on every call that proves the binding.
    /// </summary>
    void MarkBound();

    /// <summary>
    /// Sends an ONC RPC CALL (RFC 5531 §9) on this connection, the way a server reaches a client over the connection
    /// the client opened (the NFSv4.1 back channel, RFC 8881 §2.10.3.1), and completes when the REPLY with the same
    /// xid arrives on this same connection. The xid is this connection's own (the two directions' xid spaces are
    /// independent). <paramref name="writeArguments"/> appends the procedure's arguments, synchronously, before
    /// anything is sent. Never blocks a thread and holds no lock while waiting.
    /// </summary>
    /// <returns>
    /// A value, never an exception for the peer's behaviour: <see cref="RpcCallStatus.Replied"/> (accepted SUCCESS;
    /// the results are in the outcome), <see cref="RpcCallStatus.Denied"/>, <see cref="RpcCallStatus.NotAccepted"/>,
    /// <see cref="RpcCallStatus.Malformed"/>, <see cref="RpcCallStatus.TimedOut"/> (no reply within
    /// <paramref name="timeout"/>, measured on the server's TimeProvider; a later reply is dropped),
    /// <see cref="RpcCallStatus.Closed"/> (the connection ended first, the server stopped, or it was closing already)
    /// or <see cref="RpcCallStatus.Refused"/> (<see cref="RpcOptions.MaxOutgoingCallsPerConnection"/> calls already
    /// wait for replies; nothing was sent).
    /// </returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (the call stays sent; its reply is dropped).</exception>
    ValueTask<RpcCallOutcome> CallAsync<TState>(uint program, uint version, uint procedure, RpcCredentials credentials,
        TState state, Action<XdrWriter, TState> writeArguments, TimeSpan timeout, CancellationToken cancellationToken = default);
}

/// <summary>One decoded call. <see cref="Arguments"/> stays valid until the handler's task completes.</summary>
public sealed record RpcCall(
    uint Xid,
    uint Program,
    uint Version,
    uint Procedure,
    RpcCredentials Credentials,
    ReadOnlyMemory<byte> Arguments,
    IRpcConnection Connection);
