using Microsoft.Extensions.Logging;

namespace Leasehold.Export;

/// <summary>
/// Export log events (ids 2xxx). A server or disk fault is an error, a faulty client (a forged handle) a warning,
/// routine lifecycle information, handles that went stale debug.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(2001, LogLevel.Information, "Exporting {Path} (read-only {ReadOnly}, root squash {RootSquash}, sync directory changes {SyncDirectoryChanges}, fsid {Major}:{Minor})")]
    public static partial void Exporting(ILogger logger, string path, bool readOnly, bool rootSquash, bool syncDirectoryChanges, uint major, uint minor);

    [LoggerMessage(2002, LogLevel.Information, "Created a new file handle signing key in {StateDirectory}; handles issued before it are refused")]
    public static partial void KeyCreated(ILogger logger, string stateDirectory);

    [LoggerMessage(2003, LogLevel.Debug, "Loaded the file handle signing key from {StateDirectory}")]
    public static partial void KeyLoaded(ILogger logger, string stateDirectory);

    [LoggerMessage(2004, LogLevel.Error, "{Operation} failed with unexpected errno {Errno}; answering Io")]
    public static partial void UnexpectedErrno(ILogger logger, string operation, int errno);

    [LoggerMessage(2005, LogLevel.Warning, "Refused a file handle of {Length} bytes that this export did not sign")]
    public static partial void ForgedHandle(ILogger logger, int length);

    [LoggerMessage(2006, LogLevel.Debug, "A handle names inode {Ino}, now at {Path}, outside the export; answering Stale")]
    public static partial void OutsideExport(ILogger logger, ulong ino, string path);

    [LoggerMessage(2007, LogLevel.Debug, "Skipped {Name} in a directory listing: it is a mount point, which this export does not cross")]
    public static partial void SkippedMountPoint(ILogger logger, string name);

    [LoggerMessage(2008, LogLevel.Warning, "The export {OldPath} was renamed to {NewPath} while being served; serving it there (Export:Path still says the old name)")]
    public static partial void ExportMoved(ILogger logger, string oldPath, string newPath);

    [LoggerMessage(2009, LogLevel.Error, "A {Change} was made but {Operation} of inode {Ino} failed with errno {Errno}; answering Io: it may not survive a crash")]
    public static partial void SyncFailed(ILogger logger, string change, string operation, ulong ino, int errno);

    // Local access (LocalAccess/): 2010-2019.

    [LoggerMessage(2010, LogLevel.Information, "Local access is guarded by {Mechanism} (break signal {Signal}, lease-break-time {BreakTime} s, at most {Limit} guarded files; {Probe})")]
    public static partial void LocalAccessGuarded(ILogger logger, LocalAccess.LocalAccessMechanism mechanism, int signal, int breakTime, int limit, string probe);

    [LoggerMessage(2011, LogLevel.Warning, "Local access is not guarded ({Reason}); no delegations unless Nfs4:Delegations = ExclusiveExport")]
    public static partial void LocalAccessUnavailable(ILogger logger, string reason);

    [LoggerMessage(2012, LogLevel.Debug, "A local process breaks the kernel lease on inode {Ino} ({Access})")]
    public static partial void KernelBreak(ILogger logger, ulong ino, LocalAccess.LocalAccessKind access);

    [LoggerMessage(2013, LogLevel.Debug, "Local change to inode {Ino} by pid {Pid} (fanotify mask 0x{Mask:x}): {Access}")]
    public static partial void AfterTheFact(ILogger logger, ulong ino, int pid, ulong mask, LocalAccess.LocalAccessKind access);

    [LoggerMessage(2014, LogLevel.Debug, "No guard for inode {Ino}: a local process has it open in a conflicting way (EAGAIN)")]
    public static partial void GuardBusy(ILogger logger, ulong ino);

    [LoggerMessage(2015, LogLevel.Warning, "No guard for inode {Ino}: {Reason}; no delegation on it until guards are released")]
    public static partial void GuardLimit(ILogger logger, ulong ino, string reason);

    [LoggerMessage(2016, LogLevel.Warning, "{Queue} overflowed: local access may have been missed, so every guarded file ({Count}) is reported")]
    public static partial void LocalAccessOverflow(ILogger logger, string queue, int count);

    [LoggerMessage(2017, LogLevel.Warning, "Signal {Signal} reached the process outside the local access watcher (a bug); scanning the guards")]
    public static partial void StraySignal(ILogger logger, int signal);

    [LoggerMessage(2018, LogLevel.Warning, "The export's own {Operation} of inode {Ino} conflicted with its kernel lease (EWOULDBLOCK); answering Delay")]
    public static partial void OwnOpenConflict(ILogger logger, string operation, ulong ino);

    [LoggerMessage(2019, LogLevel.Critical, "The local access watcher failed; every guard is released and no file is guarded from now on")]
    public static partial void WatcherFailed(ILogger logger, Exception exception);
}
