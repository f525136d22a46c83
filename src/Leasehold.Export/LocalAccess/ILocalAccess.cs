namespace Leasehold.Export.LocalAccess;

/// <summary>How a guarded file is protected against local processes: a read guard (for read delegations) lets local
/// readers in and stops local writers; a write guard (for a write delegation) stops every local open.</summary>
public enum GuardMode
{
    /// <summary>A kernel read lease (F_RDLCK on an O_RDONLY descriptor): a local open for write or a truncate waits.</summary>
    Read,

    /// <summary>A kernel write lease (F_WRLCK on an O_RDWR descriptor): any local open waits.</summary>
    Write,
}

/// <summary>How the running kernel lets the export learn of local access to a guarded file (decided at start-up).</summary>
public enum LocalAccessMechanism
{
    /// <summary>Nothing: local access goes unseen (leases disabled, not root, or <c>Export:LocalAccess</c> = Off).</summary>
    None,

    /// <summary>
    /// Kernel leases (fcntl F_SETLEASE) make local opens and truncates wait for the recall; fanotify reports unlink,
    /// rename, link, attribute changes and writes through descriptors opened earlier after the fact (Linux before 6.19).
    /// </summary>
    LeasesAndFanotify,

    /// <summary>Kernel delegations (fcntl F_SETDELEG, Linux 6.19 and later): opens, truncates, unlink, rename, link and
    /// attribute changes all wait for the recall.</summary>
    Delegations,
}

/// <summary>What a local process did (or is waiting to do) to a guarded file.</summary>
public enum LocalAccessKind
{
    /// <summary>A local open for read is waiting (it breaks a write guard only).</summary>
    OpenRead,

    /// <summary>A local open for write or a truncate is waiting.</summary>
    OpenWrite,

    /// <summary>The file's data changed (a write through a descriptor opened earlier, an O_RDONLY|O_TRUNC): after the fact.</summary>
    Modified,

    /// <summary>Its attributes or links changed (chmod, chown, utimes, link, unlink of a name): after the fact, or waiting under F_SETDELEG.</summary>
    AttributesChanged,

    /// <summary>It was renamed.</summary>
    Moved,

    /// <summary>It is gone (its last link removed and no longer open).</summary>
    Gone,

    /// <summary>Events were lost (a queue overflowed): anything may have happened.</summary>
    Unknown,
}

/// <summary>Receives local access to guarded files. Called on the export's watcher thread: it must not block.</summary>
public interface ILocalAccessSink
{
    /// <param name="fileId">The file's id (its inode number, <see cref="FileAttributes.FileId"/>).</param>
    /// <param name="access">What the local process did or waits to do.</param>
    void OnLocalAccess(ulong fileId, LocalAccessKind access);
}

/// <summary>The outcome of <see cref="ILocalAccessGuard.Guard"/>.</summary>
public enum GuardStatus
{
    /// <summary>The file is guarded; dispose the guard to release it.</summary>
    Ok,

    /// <summary>A local process has the file open in a conflicting way (the kernel refused the lease with EAGAIN).</summary>
    Busy,

    /// <summary>A limit was reached (<c>Export:MaxKernelLeases</c>, descriptors): no guard, nothing else is wrong.</summary>
    Resource,

    /// <summary>Local access cannot be guarded on this server (<see cref="ILocalAccessGuard.Mechanism"/> is None), or the handle is bad or stale.</summary>
    Unavailable,
}

/// <summary>
/// Guards files against local processes while the NFS server lets clients cache them (a delegation): the export holds a
/// kernel lease (or kernel delegation) per guarded file, reports local access to the <see cref="ILocalAccessSink"/>,
/// and serves its own I/O on a guarded file through the lease's descriptor so that it never breaks its own lease.
/// Implemented by the local directory tree.
/// </summary>
public interface ILocalAccessGuard
{
    /// <summary>What this server uses to learn of local access (decided at start-up).</summary>
    LocalAccessMechanism Mechanism { get; }

    /// <summary>Why <see cref="Mechanism"/> is None (one line for the log), or null.</summary>
    string? UnavailableReason { get; }

    /// <summary>
    /// Guards <paramref name="file"/> in <paramref name="mode"/> until the returned guard is disposed. Guards of one file
    /// share one kernel lease (read guards with each other; a write guard stands alone). Never blocks.
    /// </summary>
    GuardStatus Guard(FileHandle file, GuardMode mode, out IDisposable? guard);
}
