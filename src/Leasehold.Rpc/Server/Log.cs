using System.Net;
using Microsoft.Extensions.Logging;

namespace Leasehold.Rpc.Server;

/// <summary>
/// RPC log events (ids 3xxx). A faulty peer is a warning, our own fault an error, routine traffic debug. Warnings
/// about a peer's traffic (and handler failures it can trigger) go through <see cref="RpcServer.Warnings"/> first:
/// a flood from one peer logs a few lines and then one <see cref="WarningsSuppressed"/> line per window.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(3001, LogLevel.Information, "Listening for ONC RPC over TCP on {EndPoint}")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(3002, LogLevel.Debug, "Connection {ConnectionId} from {Remote} accepted")]
    public static partial void ConnectionAccepted(ILogger logger, long connectionId, EndPoint? remote);

    [LoggerMessage(3003, LogLevel.Debug, "Connection {ConnectionId} from {Remote} closed")]
    public static partial void ConnectionClosed(ILogger logger, long connectionId, EndPoint? remote);

    [LoggerMessage(3004, LogLevel.Warning, "Connection {ConnectionId} from {Remote} refused: {Limit} connections are open already")]
    public static partial void TooManyConnections(ILogger logger, long connectionId, EndPoint? remote, int limit);

    [LoggerMessage(3005, LogLevel.Warning, "Connection {ConnectionId} from {Remote} closed: {Reason} (limit {Limit} bytes / fragments)")]
    public static partial void BadRecord(ILogger logger, long connectionId, EndPoint? remote, string reason, int limit);

    [LoggerMessage(3006, LogLevel.Warning, "Connection {ConnectionId} from {Remote}: undecodable call header ({Reason}); record dropped")]
    public static partial void BadCallHeader(ILogger logger, long connectionId, EndPoint? remote, string reason);

    [LoggerMessage(3007, LogLevel.Warning, "Connection {ConnectionId} from {Remote}: garbage arguments for program {Program} v{Version} procedure {Procedure} (xid {Xid}): {Reason}")]
    public static partial void GarbageArgs(ILogger logger, long connectionId, EndPoint? remote, uint program, uint version, uint procedure, uint xid, string reason);

    [LoggerMessage(3008, LogLevel.Error, "Connection {ConnectionId}: program {Program} v{Version} procedure {Procedure} (xid {Xid}) failed; replying SYSTEM_ERR")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, long connectionId, uint program, uint version, uint procedure, uint xid);

    [LoggerMessage(3009, LogLevel.Debug, "Connection {ConnectionId} from {Remote} ended with an I/O error")]
    public static partial void ConnectionFaulted(ILogger logger, Exception exception, long connectionId, EndPoint? remote);

    [LoggerMessage(3010, LogLevel.Debug, "Connection {ConnectionId}: unexpected REPLY (xid {Xid}) with no call outstanding; dropped")]
    public static partial void UnexpectedReply(ILogger logger, long connectionId, uint xid);

    [LoggerMessage(3011, LogLevel.Information, "ONC RPC listener on {EndPoint} stopped; {Count} connection(s) closed")]
    public static partial void Stopped(ILogger logger, EndPoint endPoint, int count);

    [LoggerMessage(3012, LogLevel.Debug, "Connection {ConnectionId}: call rejected ({Reason}) for xid {Xid}")]
    public static partial void CallRejected(ILogger logger, long connectionId, string reason, uint xid);

    [LoggerMessage(3013, LogLevel.Warning, "Suppressed {Count} more warning(s) about {Peer} in the last {Seconds} s (at most {Limit} are logged per peer every {Window} s)")]
    public static partial void WarningsSuppressed(ILogger logger, long count, string peer, long seconds, int limit, long window);

    [LoggerMessage(3014, LogLevel.Debug, "Connection {ConnectionId} from {Remote} closed after {Seconds} s without traffic ({Binding})")]
    public static partial void IdleClosed(ILogger logger, long connectionId, EndPoint? remote, long seconds, string binding);

    [LoggerMessage(3015, LogLevel.Warning, "Connection {ConnectionId} from {Remote} closed after {Seconds} s without traffic ({Binding}) to make room for connection {NewId} from {NewRemote}: {Limit} connections are open")]
    public static partial void ClosedToMakeRoom(ILogger logger, long connectionId, EndPoint? remote, long seconds, string binding, int limit, long newId, EndPoint? newRemote);

    [LoggerMessage(3016, LogLevel.Error, "Connection {ConnectionId} from {Remote} failed unexpectedly; it is closed and the server goes on")]
    public static partial void ConnectionFailed(ILogger logger, Exception exception, long connectionId, EndPoint? remote);

    [LoggerMessage(3017, LogLevel.Debug, "Connection {ConnectionId}: sent CALL xid {Xid} (program {Program} version {Version} procedure {Procedure})")]
    public static partial void CallSent(ILogger logger, long connectionId, uint xid, uint program, uint version, uint procedure);

    [LoggerMessage(3018, LogLevel.Debug, "Connection {ConnectionId}: CALL xid {Xid} (program {Program} procedure {Procedure}) got no reply within {Timeout}")]
    public static partial void CallTimedOut(ILogger logger, long connectionId, uint xid, uint program, uint procedure, TimeSpan timeout);
}
