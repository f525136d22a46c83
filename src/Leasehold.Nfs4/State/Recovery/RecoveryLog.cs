using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4;

/// <summary>Restart recovery log events (ids 42xx): the grace period and the client records.</summary>
internal static partial class Log
{
    [LoggerMessage(4200, LogLevel.Information, "Grace period of {Seconds} s: {Count} client(s) held state before the restart and may reclaim it; new opens and locks wait")]
    public static partial void GraceStarted(ILogger logger, double seconds, int count);

    [LoggerMessage(4201, LogLevel.Information, "Grace period over after {Seconds:0.#} s: {Reclaimed} of {Count} client(s) reclaimed")]
    public static partial void GraceEnded(ILogger logger, double seconds, int reclaimed, int count);

    [LoggerMessage(4202, LogLevel.Warning, "Client {ClientId:x16} uses the name of a recorded client but another principal ({Principal}): it may not reclaim that client's state")]
    public static partial void ReclaimByOtherPrincipal(ILogger logger, ulong clientId, string principal);

    [LoggerMessage(4203, LogLevel.Error, "Could not forget the clients that did not reclaim; the next start will wait for them again")]
    public static partial void GraceEndNotRecorded(ILogger logger, Exception exception);

    [LoggerMessage(4210, LogLevel.Error, "Could not record client {ClientId:x16} in stable storage (retried every heartbeat); after a restart now it could not reclaim its state")]
    public static partial void RecordFailed(ILogger logger, Exception exception, ulong clientId);

    [LoggerMessage(4211, LogLevel.Warning, "Could not remove client {ClientId:x16} from stable storage (retried every heartbeat); a restart now would wait for it")]
    public static partial void RecordRemovalFailed(ILogger logger, Exception exception, ulong clientId);
}
