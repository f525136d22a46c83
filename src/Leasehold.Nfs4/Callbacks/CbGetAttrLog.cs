using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4;

/// <summary>CB_GETATTR log events (ids 412x).</summary>
internal static partial class Log
{
    [LoggerMessage(4120, LogLevel.Debug, "CB_GETATTR for delegation {StateId} of client {ClientId:x16} answered {OpStatus} without usable attributes")]
    public static partial void CbGetAttrRefused(ILogger logger, string stateId, ulong clientId, Protocol.NfsStat4 opStatus);

    [LoggerMessage(4121, LogLevel.Warning, "CB_GETATTR for delegation {StateId} of client {ClientId:x16} failed unexpectedly")]
    public static partial void CbGetAttrFailed(ILogger logger, Exception exception, string stateId, ulong clientId);

    [LoggerMessage(4122, LogLevel.Debug, "GETATTR of file {FileId}: the holder of delegation {StateId} did not answer CB_GETATTR in time; recalling it")]
    public static partial void CbGetAttrUnanswered(ILogger logger, ulong fileId, string stateId);
}
