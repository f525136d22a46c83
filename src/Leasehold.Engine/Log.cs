using Microsoft.Extensions.Logging;

namespace Leasehold.Engine;

/// <summary>Engine log events (ids 1xxx). Levels go by cause: a holder that never answers is worth a warning, a routine break is debug.</summary>
internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Debug, "Breaking {Kind} on file {File} held by {Holder}: {Target} before {Deadline:O}")]
    public static partial void BreakSent(ILogger logger, GrantKind kind, FileKey file, Owner holder, BreakTarget target, DateTimeOffset deadline);

    [LoggerMessage(1002, LogLevel.Warning, "Revoked {Kind} on file {File} held by {Holder}: it was not returned before its break deadline")]
    public static partial void GrantRevoked(ILogger logger, GrantKind kind, FileKey file, Owner holder);

    [LoggerMessage(1003, LogLevel.Information, "Downgraded {Kind} on file {File} held by {Holder} to read: it was not downgraded before its break deadline")]
    public static partial void GrantDowngraded(ILogger logger, GrantKind kind, FileKey file, Owner holder);

    [LoggerMessage(1004, LogLevel.Debug, "{Operation} on file {File} by {Breaker} would block: conflicting grants are being broken")]
    public static partial void BreakWouldBlock(ILogger logger, FileOperation operation, FileKey file, Owner breaker);

    [LoggerMessage(1005, LogLevel.Debug, "{Operation} on file {File} by {Breaker} waits for {Count} grant(s) to be returned")]
    public static partial void BreakerWaiting(ILogger logger, FileOperation operation, FileKey file, Owner breaker, int count);

    [LoggerMessage(1006, LogLevel.Information, "{Operation} on file {File} by {Breaker} refused: another owner holds an exclusive layout")]
    public static partial void LayoutBusy(ILogger logger, FileOperation operation, FileKey file, Owner breaker);

    [LoggerMessage(1007, LogLevel.Information, "Grant authority refused a {Kind} {Mode} on file {File} for {Owner}")]
    public static partial void GrantRefusedByAuthority(ILogger logger, GrantKind kind, GrantMode mode, FileKey file, Owner owner);

    [LoggerMessage(1008, LogLevel.Error, "The holder of a {Kind} on file {File} ({Holder}) threw while being told of a break; the break goes on")]
    public static partial void HolderFailed(ILogger logger, Exception exception, GrantKind kind, FileKey file, Owner holder);

    [LoggerMessage(1009, LogLevel.Information, "Lease engine disposed with {Count} breaker(s) still waiting; they fail with ObjectDisposedException")]
    public static partial void DisposedWithWaiters(ILogger logger, int count);

    [LoggerMessage(1010, LogLevel.Debug, "{Operation} on file {File} by {Breaker} would block: this node could not get the {Rights} token ({Answer})")]
    public static partial void TokenWouldBlock(ILogger logger, FileOperation operation, FileKey file, Owner breaker, TokenRights rights, TokenAnswer answer);

    [LoggerMessage(1011, LogLevel.Information, "A {Kind} {Mode} on file {File} for {Owner} refused: this node could not get the {Rights} token ({Answer})")]
    public static partial void GrantRefusedForToken(ILogger logger, GrantKind kind, GrantMode mode, FileKey file, Owner owner, TokenRights rights, TokenAnswer answer);

    [LoggerMessage(1012, LogLevel.Debug, "Giving {Rights} on file {File} back to the cluster: breaking {Count} grant(s)")]
    public static partial void TokenRecall(ILogger logger, TokenRights rights, FileKey file, int count);

    [LoggerMessage(1013, LogLevel.Warning, "Node tokens fenced (generation {Generation}): kept {Keep}, breaking {Count} grant(s) within {MaxBreakTime}")]
    public static partial void TokensFenced(ILogger logger, long generation, TokenRights keep, int count, TimeSpan maxBreakTime);
}
