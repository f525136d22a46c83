using Leasehold.Export;
using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Protocol;
using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4;

/// <summary>Offload log events (ids 43xx).</summary>
internal static partial class Log
{
    [LoggerMessage(4300, LogLevel.Debug, "Asynchronous COPY {StateId} of client {ClientId:x16} ended: {Status}, {Copied} bytes, cancelled {Cancelled}")]
    public static partial void OffloadDone(ILogger logger, string stateId, ulong clientId, FsStatus status, long copied, bool cancelled);

    [LoggerMessage(4301, LogLevel.Error, "Asynchronous COPY {StateId} of client {ClientId:x16} failed unexpectedly")]
    public static partial void OffloadFailed(ILogger logger, Exception exception, string stateId, ulong clientId);

    [LoggerMessage(4302, LogLevel.Warning, "CB_OFFLOAD of COPY {StateId} to client {ClientId:x16} not delivered: {Failure}; OFFLOAD_STATUS still answers for it")]
    public static partial void OffloadCallbackFailed(ILogger logger, string stateId, ulong clientId, string failure);

    [LoggerMessage(4303, LogLevel.Debug, "CB_OFFLOAD of COPY {StateId} to client {ClientId:x16}: {Outcome}, {OpStatus}")]
    public static partial void OffloadCallbackSent(ILogger logger, string stateId, ulong clientId, CbCallStatus outcome, NfsStat4 opStatus);
}
