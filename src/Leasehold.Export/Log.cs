using Microsoft.Extensions.Logging;

namespace Leasehold.Export;

/// <summary>
/// Export log events (ids 2xxx). A server or disk fault is an error, a faulty client (a forged handle) a warning,
/// routine lifecycle information, handles that went stale debug.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(2001, LogLevel.Information, "Exporting {Path} (read-only {ReadOnly}, root squash {RootSquash}, fsid {Major}:{Minor})")]
    public static partial void Exporting(ILogger logger, string path, bool readOnly, bool rootSquash, uint major, uint minor);

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
}
