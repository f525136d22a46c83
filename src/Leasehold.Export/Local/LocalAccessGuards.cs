using Leasehold.Export.LocalAccess;
using Leasehold.Export.Native;
using Microsoft.Extensions.Logging;
using static Leasehold.Export.Local.Descriptors;

namespace Leasehold.Export.Local;

/// <summary>
/// Local access: guards (kernel leases) against local processes (<see cref="ILocalAccessGuard"/>), and the export's own
/// descriptors that must never break them (docs/local-access-design.md §4.1): every READ, WRITE, COMMIT and truncate
/// opens its descriptor through <see cref="OpenOwn"/>, and LINK, REMOVE, RENAME and SETATTR run inside
/// <see cref="SuspendFor"/>.
/// </summary>
internal sealed class LocalAccessGuards : IDisposable
{
    private readonly HandleTable _handles;
    private readonly Failures _failures;
    private readonly ILogger _logger;
    private readonly KernelLeases? _leases;
    private readonly LocalAccessWatcher? _watcher;
    private readonly string? _localAccessUnavailable;

    private LocalAccessGuards(HandleTable handles, Failures failures, ILogger logger, KernelLeases? leases, LocalAccessWatcher? watcher, string? unavailable)
    {
        _handles = handles;
        _failures = failures;
        _logger = logger;
        _leases = leases;
        _watcher = watcher;
        _localAccessUnavailable = unavailable;
    }

    /// <summary>Stops the watcher, then releases every guard, so no local process waits on us.</summary>
    public void Dispose()
    {
        _watcher?.Stop();
        _leases?.Dispose();
        _watcher?.Dispose();
    }

    public LocalAccessMechanism Mechanism => _leases is null || _leases.Failed ? LocalAccessMechanism.None : _leases.Mechanism;

    public string? UnavailableReason =>
        _leases is null ? _localAccessUnavailable
        : _leases.Failed ? "the local access watcher failed"
        : null;

    /// <summary>The guard table (READ borrows a guard's descriptor from it; tests look into it); null when local access is not guarded.</summary>
    public KernelLeases? Leases => _leases;

    /// <summary>The watcher, for tests; null when local access is not guarded.</summary>
    public LocalAccessWatcher? Watcher => _watcher;

    /// <summary>
    /// Guards a regular file against local processes until the guard is disposed (ILocalAccessGuard). Unavailable when
    /// nothing can guard here, or the handle is bad, stale or not a regular file; Busy when a local process (or the
    /// export's own descriptor) has it open in a conflicting way; Resource at Export:MaxKernelLeases or out of descriptors.
    /// </summary>
    public GuardStatus Guard(FileHandle file, GuardMode mode, out IDisposable? guard)
    {
        guard = null;
        if (mode is not GuardMode.Read and not GuardMode.Write)
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "A guard is Read or Write.");
        if (_leases is null)
            return GuardStatus.Unavailable;
        if (_handles.ResolveRegular(file, out SafeFd fd, out Statx st) != FsStatus.Ok)
            return GuardStatus.Unavailable;
        using (fd)
        {
            if (!HandleTable.TryGetKernelHandle(fd, out _, out byte[] kernelHandle, out _, out _))
                return GuardStatus.Unavailable;
            // A READ still using a dropped cached reader keeps it open until its pread returns: then this is Busy, and
            // the client simply gets no delegation this time.
            return _leases.Acquire(st.Ino, kernelHandle, mode, flags => Reopen(fd, flags), () => _handles.DropReaders(st.Ino), out guard);
        }
    }

    /// <summary>
    /// The export's own descriptor for I/O on <paramref name="ino"/>: the guard's, when it is guarded and that serves;
    /// otherwise a reopen of <paramref name="fd"/> (see <see cref="KernelLeases.OpenOwn"/>). Check
    /// <see cref="OwnIo.Fd"/>.IsInvalid and answer <see cref="OwnOpenFailed"/>.
    /// </summary>
    public OwnIo OpenOwn(SafeFd fd, ulong ino, int flags)
    {
        if (_leases is not null)
            return _leases.OpenOwn(ino, flags, f => Reopen(fd, f));
        SafeFd own = Reopen(fd, flags);
        return new OwnIo(own, borrowed: false, errno: own.IsInvalid ? LibC.LastErrno : 0, default);
    }

    /// <summary>
    /// An own open that failed. EWOULDBLOCK means it conflicted with a kernel lease (ours, by a bug, or another
    /// process's): the open's O_NONBLOCK made it fail at once instead of parking this thread for lease-break-time, and
    /// the break it started recalls the delegation; the client retries.
    /// </summary>
    public FsStatus OwnOpenFailed(in OwnIo io, string operation, ulong ino)
    {
        if (io.Errno == Errno.EAGAIN)
        {
            Log.OwnOpenConflict(_logger, operation, ino);
            return FsStatus.Delay;
        }
        return _failures.Fail("open", io.Errno);
    }

    /// <summary>A suspension of the guard on <paramref name="ino"/> around the export's own change of <paramref name="kind"/>, where it would break it.</summary>
    public KernelLeases.Suspension SuspendFor(ulong ino, ChangeKind kind) =>
        _leases is null ? default : _leases.SuspendFor(ino, kind);

    /// <summary>
    /// Starts guarding local access as the probe finds possible, or says why not (logs 2010 or 2011; nothing without a
    /// sink): the guards of the export at <paramref name="root"/>, whose files <paramref name="handles"/> resolves.
    /// </summary>
    public static LocalAccessGuards Start(ExportOptions options, SafeFd root, ILocalAccessSink? sink, HandleTable handles, Failures failures, ILogger logger)
    {
        var (leases, watcher, reason) = StartLocalAccess(options, root, sink, logger);
        return new LocalAccessGuards(handles, failures, logger, leases, watcher, reason);
    }

    private static (KernelLeases? Leases, LocalAccessWatcher? Watcher, string? Reason) StartLocalAccess(
        ExportOptions options, SafeFd root, ILocalAccessSink? sink, ILogger logger)
    {
        string? reason = null;
        if (sink is null)
            return (null, null, "the server gave the export no local access sink"); // its choice (no delegations, or no guards wanted): nothing to warn of
        if (options.LocalAccess == LocalAccessPolicy.Off)
            reason = "Export:LocalAccess is Off";
        int signal = reason is null ? LocalAccessSignal.Choose(out reason) : 0;
        LocalAccessProbe.Outcome? outcome = reason is null ? LocalAccessProbe.Run(root, options.LocalAccess, signal) : null;
        reason ??= outcome!.Reason;
        if (reason is not null)
        {
            outcome?.Fanotify?.Dispose();
            Log.LocalAccessUnavailable(logger, reason);
            return (null, null, reason);
        }

        int limit = LocalAccessProbe.Limit(options.MaxKernelLeases);
        var leases = new KernelLeases(outcome!.Mechanism, signal, outcome.Fanotify, limit, sink!, logger);
        var watcher = new LocalAccessWatcher(leases, signal, outcome.Fanotify, sink!, logger);
        try
        {
            watcher.Start();
        }
        catch
        {
            watcher.Dispose();
            throw;
        }
        leases.WatcherTid = watcher.Tid;
        Log.LocalAccessGuarded(logger, outcome.Mechanism, signal, LocalAccessProbe.LeaseBreakTime(), limit,
            outcome.Note ?? "probed on the export's filesystem");
        return (leases, watcher, null);
    }
}
