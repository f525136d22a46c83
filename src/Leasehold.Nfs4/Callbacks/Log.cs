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
}
