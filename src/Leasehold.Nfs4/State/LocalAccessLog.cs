using Leasehold.Export.LocalAccess;
using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4;

/// <summary>Local-access log events (ids 413x): local processes recalling delegations through the export's guards.</summary>
internal static partial class Log
{
    [LoggerMessage(4130, LogLevel.Information, "Local {Access} of file {FileId} recalls its delegations ({Wait})")]
    public static partial void LocalAccessRecalls(ILogger logger, LocalAccessKind access, ulong fileId, string wait);

    [LoggerMessage(4131, LogLevel.Debug, "No delegation on file {FileId}: the export refused a {Mode} guard ({Status})")]
    public static partial void GuardRefused(ILogger logger, ulong fileId, GuardMode mode, GuardStatus status);
}
