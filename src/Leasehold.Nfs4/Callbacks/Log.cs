using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4;

/// <summary>Back-channel log events (ids 41xx).</summary>
internal static partial class Log
{
    [LoggerMessage(4101, LogLevel.Debug, "Client {ClientId:x16} session {SessionId}: back channel up")]
    public static partial void BackChannelUp(ILogger logger, ulong clientId, string sessionId);

    [LoggerMessage(4102, LogLevel.Information, "Client {ClientId:x16} session {SessionId}: back channel down ({Reason})")]
    public static partial void BackChannelDown(ILogger logger, ulong clientId, string sessionId, string reason);

    [LoggerMessage(4103, LogLevel.Warning, "Client {ClientId:x16} session {SessionId}: back channel fault ({Reason})")]
    public static partial void BackChannelFault(ILogger logger, ulong clientId, string sessionId, string reason);

    [LoggerMessage(4106, LogLevel.Warning, "Client {ClientId:x16}: callback failed: CB_RECALL of delegation {StateId} on file {FileId}: {Failure} ({Suppressed} more failures of this client not logged in the last minute)")]
    public static partial void CallbackFailing(ILogger logger, ulong clientId, string stateId, ulong fileId, string failure, int suppressed);

    [LoggerMessage(4108, LogLevel.Debug, "CB_NOTIFY_LOCK to client {ClientId:x16} for file {FileId}: {Status} ({OpStatus})")]
    public static partial void LockNotified(ILogger logger, ulong clientId, ulong fileId, Callbacks.CbCallStatus status, Protocol.NfsStat4 opStatus);

    [LoggerMessage(4107, LogLevel.Debug, "CB_RECALL of delegation {StateId} to client {ClientId:x16} waits for a usable back channel")]
    public static partial void RecallWaiting(ILogger logger, string stateId, ulong clientId);
}
