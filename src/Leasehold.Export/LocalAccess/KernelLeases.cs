using Leasehold.Export.Native;
using Microsoft.Extensions.Logging;

namespace Leasehold.Export.LocalAccess;

/// <summary>
/// The guard table: one kernel lease (or kernel delegation) per guarded inode, on a descriptor of its own, shared by all
/// its guards (read guards with each other; a write guard stands alone). Indexed by inode number, by descriptor number
/// (a break signal names the descriptor, signalfd_siginfo.ssi_fd) and by kernel file handle (a fanotify event names
/// the file by handle, byte for byte what name_to_handle_at(2) gives).
/// </summary>
/// <remarks>
/// <para>One lock for the table and its entries: every call under it is a non-blocking system call (an open with
/// O_NONBLOCK, fcntl, fanotify_mark, close), and the sink is always called outside it.</para>
/// <para><b>Arm</b> sets F_SETSIG and F_SETOWN_EX(F_OWNER_TID, watcher) before every F_SETLEASE, because F_UNLCK clears
/// both, and a lease without them signals the whole process with SIGIO, whose default action kills it.</para>
/// <para><b>Release</b> order: unindex (a late signal for a reused descriptor number finds nothing), fanotify REMOVE,
/// F_UNLCK, close. Every descriptor is O_CLOEXEC: a copy inherited by an exec'd child would keep the lease alive.</para>
/// </remarks>
internal sealed class KernelLeases : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Entry> _byIno = [];
    private readonly Dictionary<int, Entry> _byFd = [];
    private readonly Dictionary<byte[], Entry> _byHandle = new(HandleComparer.Instance);
    private readonly int _signal;
    private readonly SafeFd? _fanotify;
    private readonly ILocalAccessSink _sink;
    private readonly ILogger _logger;
    private int _watcherTid;
    private bool _failed;
    private long _lastLimitLog = long.MinValue;

    /// <summary>The mask of every per-inode fanotify mark: what leases do not make wait, reported after the fact.</summary>
    public const ulong FanotifyMask = LibC.FAN_MODIFY | LibC.FAN_ATTRIB | LibC.FAN_MOVE_SELF | LibC.FAN_DELETE_SELF;

    /// <param name="mechanism">LeasesAndFanotify (F_SETLEASE, <paramref name="fanotify"/> required) or Delegations (F_SETDELEG).</param>
    /// <param name="signal">The break signal (F_SETSIG).</param>
    /// <param name="fanotify">The fanotify group for after-the-fact events, or null under Delegations.</param>
    /// <param name="limit">The most entries at once (Export:MaxKernelLeases, resolved).</param>
    public KernelLeases(LocalAccessMechanism mechanism, int signal, SafeFd? fanotify, int limit, ILocalAccessSink sink, ILogger logger)
    {
        if (mechanism == LocalAccessMechanism.None)
            throw new ArgumentOutOfRangeException(nameof(mechanism), "A guard table needs a mechanism.");
        if (mechanism == LocalAccessMechanism.LeasesAndFanotify)
            ArgumentNullException.ThrowIfNull(fanotify);
        Mechanism = mechanism;
        _signal = signal;
        _fanotify = fanotify;
        Limit = limit;
        _sink = sink;
        _logger = logger;
    }

    public LocalAccessMechanism Mechanism { get; }

    public int Limit { get; }

    /// <summary>The watcher thread's kernel thread id: every lease signals it alone. Set once, before the first guard.</summary>
    public int WatcherTid
    {
        get => Volatile.Read(ref _watcherTid);
        set => Volatile.Write(ref _watcherTid, value);
    }

    /// <summary>How many inodes are guarded (each one descriptor and one kernel lease).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _byIno.Count;
        }
    }

    /// <summary>True once the watcher failed: nothing is guarded and <see cref="Acquire"/> answers Unavailable.</summary>
    public bool Failed
    {
        get
        {
            lock (_lock)
                return _failed;
        }
    }

    internal sealed class Entry(ulong ino, SafeFd fd, byte[] handle, GuardMode mode)
    {
        public ulong Ino { get; } = ino;
        public SafeFd Fd { get; } = fd;
        public int FdNumber { get; } = fd.Number;
        public byte[] Handle { get; } = handle;
        public GuardMode Mode { get; } = mode;
        public int Holders;
        public int Suspensions;
        public bool Armed;
        public bool Marked;
        public bool Released;
    }

    /// <summary>
    /// Guards <paramref name="ino"/>. <paramref name="open"/> opens the file for the lease with the given open(2) flags
    /// (O_RDONLY or O_RDWR; it adds O_NONBLOCK and O_CLOEXEC); it is called only when the inode has no entry yet, and
    /// for a write guard right after <paramref name="dropReaders"/>, which closes the export's cached read descriptors
    /// (same-process descriptors count: F_WRLCK beside one is EAGAIN). Both run under the table lock.
    /// </summary>
    public GuardStatus Acquire(ulong ino, byte[] kernelHandle, GuardMode mode, Func<int, SafeFd> open, Action dropReaders, out IDisposable? guard)
    {
        guard = null;
        GuardStatus status;
        lock (_lock)
        {
            if (mode == GuardMode.Write && !_byIno.ContainsKey(ino))
                dropReaders();
            status = AcquireLocked(ino, kernelHandle, mode, open, out Entry? entry);
            if (entry is not null)
                guard = new Hold(this, entry);
        }
        return status;
    }

    private GuardStatus AcquireLocked(ulong ino, byte[] kernelHandle, GuardMode mode, Func<int, SafeFd> open, out Entry? entry)
    {
        entry = null;
        if (_failed)
            return GuardStatus.Unavailable;
        if (_byIno.TryGetValue(ino, out Entry? existing))
        {
            if (existing.Mode != GuardMode.Read || mode != GuardMode.Read)
            {
                Log.GuardBusy(_logger, ino); // a write guard stands alone
                return GuardStatus.Busy;
            }
            if (!existing.Armed)
            {
                // Disarmed by a re-arm that failed (a local writer slipped in), or suspended for our own write.
                if (existing.Suspensions > 0 || Arm(existing.Fd, mode) != 0)
                {
                    Log.GuardBusy(_logger, ino);
                    return GuardStatus.Busy;
                }
                existing.Armed = true;
            }
            existing.Holders++;
            entry = existing;
            return GuardStatus.Ok;
        }
        if (_byIno.Count >= Limit)
            return LimitReached(ino, $"Export:MaxKernelLeases ({Limit}) files are guarded");

        SafeFd fd = open(mode == GuardMode.Read ? LibC.O_RDONLY : LibC.O_RDWR);
        if (fd.IsInvalid)
        {
            int errno = LibC.LastErrno;
            fd.Dispose();
            return errno switch
            {
                Errno.EMFILE or Errno.ENFILE => LimitReached(ino, $"no descriptor is left (errno {errno})"),
                Errno.EAGAIN => Busy(ino), // another holder's lease (Samba, another server) is in the way; its break has started
                _ => GuardStatus.Unavailable,
            };
        }
        int armErrno = Arm(fd, mode);
        if (armErrno != 0)
        {
            fd.Dispose();
            return armErrno == Errno.EAGAIN ? Busy(ino) : GuardStatus.Unavailable;
        }
        var created = new Entry(ino, fd, kernelHandle, mode) { Armed = true, Holders = 1 };
        if (_fanotify is not null)
        {
            unsafe
            {
                if (LibC.fanotify_mark(_fanotify, LibC.FAN_MARK_ADD, FanotifyMask, fd, null) != 0)
                {
                    int errno = LibC.LastErrno;
                    Disarm(created);
                    fd.Dispose();
                    return errno == Errno.ENOSPC ? LimitReached(ino, "fanotify has no mark left (ENOSPC)") : GuardStatus.Unavailable;
                }
            }
            created.Marked = true;
        }
        _byIno.Add(ino, created);
        _byFd[created.FdNumber] = created;
        _byHandle[kernelHandle] = created;
        entry = created;
        return GuardStatus.Ok;
    }

    private GuardStatus Busy(ulong ino)
    {
        Log.GuardBusy(_logger, ino);
        return GuardStatus.Busy;
    }

    private GuardStatus LimitReached(ulong ino, string reason)
    {
        long now = Environment.TickCount64;
        if (_lastLimitLog == long.MinValue || now - _lastLimitLog >= 60_000)
        {
            _lastLimitLog = now;
            Log.GuardLimit(_logger, ino, reason);
        }
        return GuardStatus.Resource;
    }

    /// <summary>
    /// F_SETSIG, F_SETOWN_EX(F_OWNER_TID, watcher), then F_SETLEASE (or F_SETDELEG) with the guard's lock type; never the
    /// lease if an earlier call failed. Returns 0 or the errno of the call that failed.
    /// </summary>
    private unsafe int Arm(SafeFd fd, GuardMode mode) => Arm(fd, Mechanism, _signal, WatcherTid, mode == GuardMode.Read ? LibC.F_RDLCK : LibC.F_WRLCK);

    /// <summary>See the instance Arm; also used by the start-up probe, with the probing thread as the owner.</summary>
    internal static unsafe int Arm(SafeFd fd, LocalAccessMechanism mechanism, int signal, int ownerTid, int lockType)
    {
        if (ownerTid <= 0)
            return Errno.ESRCH; // no owner to direct the signal to: a lease now would signal the whole process
        if (LibC.fcntl(fd, LibC.F_SETSIG, signal) != 0)
            return LibC.LastErrno;
        var owner = new FOwnerEx { Type = LibC.F_OWNER_TID, Pid = ownerTid };
        if (LibC.fcntl(fd, LibC.F_SETOWN_EX, &owner) != 0)
            return LibC.LastErrno;
        return SetLock(fd, mechanism, lockType) == 0 ? 0 : LibC.LastErrno;
    }

    /// <summary>F_SETLEASE, or F_SETDELEG under Delegations. Returns 0 or -1 (errno set).</summary>
    internal static unsafe int SetLock(SafeFd fd, LocalAccessMechanism mechanism, int lockType)
    {
        if (mechanism != LocalAccessMechanism.Delegations)
            return LibC.fcntl(fd, LibC.F_SETLEASE, lockType);
        var delegation = new KernelDelegation { Type = (ushort)lockType };
        return LibC.fcntl(fd, LibC.F_SETDELEG, &delegation);
    }

    /// <summary>F_GETLEASE or F_GETDELEG: the lock held, or while a break is pending the type the holder must go to; -1 on error.</summary>
    internal static unsafe int GetLock(SafeFd fd, LocalAccessMechanism mechanism)
    {
        if (mechanism != LocalAccessMechanism.Delegations)
            return LibC.fcntl(fd, LibC.F_GETLEASE, 0);
        var delegation = new KernelDelegation();
        return LibC.fcntl(fd, LibC.F_GETDELEG, &delegation) != 0 ? -1 : delegation.Type;
    }

    private void Disarm(Entry entry)
    {
        if (entry.Armed)
            SetLock(entry.Fd, Mechanism, LibC.F_UNLCK);
        entry.Armed = false;
    }

    private void Release(Entry entry)
    {
        lock (_lock)
        {
            if (entry.Released || --entry.Holders > 0)
                return;
            ReleaseLocked(entry);
        }
    }

    private unsafe void ReleaseLocked(Entry entry)
    {
        _byIno.Remove(entry.Ino);
        _byFd.Remove(entry.FdNumber);
        _byHandle.Remove(entry.Handle);
        if (entry.Marked && _fanotify is not null)
            LibC.fanotify_mark(_fanotify, LibC.FAN_MARK_REMOVE, FanotifyMask, entry.Fd, null);
        entry.Marked = false;
        Disarm(entry);
        entry.Released = true;
        entry.Fd.Dispose(); // a borrower (GuardIo) keeps the descriptor open until its call returns; the lease is gone already
    }

    /// <summary>Releases every guard (their holders' Dispose then does nothing).</summary>
    public void ReleaseAll()
    {
        lock (_lock)
        {
            foreach (Entry entry in _byIno.Values.ToList())
                ReleaseLocked(entry);
        }
    }

    /// <summary>The watcher failed: release everything, so no local process sits out the kernel's break time, and refuse from now on.</summary>
    public void Fail()
    {
        lock (_lock)
            _failed = true;
        ReleaseAll();
    }

    public void Dispose() => ReleaseAll();

    // ---------------------------------------------------------------- the export's own I/O

    /// <summary>
    /// The guard's descriptor for the export's own I/O on <paramref name="ino"/> (so it never opens a descriptor that
    /// breaks its own lease), or an empty <see cref="GuardIo"/> when the inode is not guarded. Dispose it after the call.
    /// </summary>
    public GuardIo Borrow(ulong ino)
    {
        lock (_lock)
        {
            if (!_byIno.TryGetValue(ino, out Entry? entry))
                return default;
            bool added = false;
            entry.Fd.DangerousAddRef(ref added);
            return added ? new GuardIo(entry.Fd, entry.Mode) : default;
        }
    }

    /// <summary>
    /// A descriptor for the export's own I/O on <paramref name="ino"/> that breaks no guard of ours: the guard's own
    /// descriptor when it can serve <paramref name="flags"/> (O_RDONLY under any guard, O_WRONLY under a write guard);
    /// under a read guard, O_WRONLY opens a descriptor inside a suspension (<see cref="Suspend"/>); unguarded, a fresh
    /// descriptor, opened under the table lock so that no guard can appear between the check and the open (a guard
    /// taken later sees our descriptor and is refused with Busy).
    /// </summary>
    public OwnIo OpenOwn(ulong ino, int flags, Func<int, SafeFd> open)
    {
        lock (_lock)
        {
            if (_byIno.TryGetValue(ino, out Entry? entry))
            {
                if (flags == LibC.O_RDONLY || entry.Mode == GuardMode.Write)
                {
                    bool added = false;
                    entry.Fd.DangerousAddRef(ref added);
                    return new OwnIo(entry.Fd, borrowed: true, errno: 0, default);
                }
                if (entry.Suspensions++ == 0)
                    Disarm(entry);
                var suspension = new Suspension(this, entry);
                SafeFd own = open(flags);
                return new OwnIo(own, borrowed: false, errno: own.IsInvalid ? LibC.LastErrno : 0, suspension);
            }
            SafeFd fd = open(flags);
            return new OwnIo(fd, borrowed: false, errno: fd.IsInvalid ? LibC.LastErrno : 0, default);
        }
    }

    /// <summary>
    /// Runs <paramref name="unguarded"/> under the table lock when <paramref name="ino"/> is not guarded (so it may open
    /// a descriptor no guard has to live with), or borrows the guard's descriptor when it is.
    /// </summary>
    public GuardIo BorrowOr(ulong ino, Action unguarded)
    {
        lock (_lock)
        {
            if (!_byIno.ContainsKey(ino))
            {
                unguarded();
                return default;
            }
            return Borrow(ino);
        }
    }

    /// <summary>A suspension around the export's own change of <paramref name="kind"/> when <see cref="SelfConflicts"/> says it would break the guard.</summary>
    public Suspension SuspendFor(ulong ino, ChangeKind kind)
    {
        lock (_lock)
        {
            if (!_byIno.TryGetValue(ino, out Entry? entry) || !SelfConflicts.Breaks(Mechanism, kind, entry.Mode))
                return default;
            return Suspend(ino);
        }
    }

    /// <summary>
    /// Lifts the lease on <paramref name="ino"/> for the export's own change that would otherwise break it (the holder's
    /// own write beside its read delegation): counted; the first suspension unlocks, the last one arms again. A re-arm
    /// refused with EAGAIN means a local writer got in meanwhile: it is reported as <see cref="LocalAccessKind.Modified"/>,
    /// and the entry stays unarmed until released. Nothing happens when the inode is not guarded.
    /// </summary>
    public Suspension Suspend(ulong ino)
    {
        lock (_lock)
        {
            if (!_byIno.TryGetValue(ino, out Entry? entry))
                return default;
            if (entry.Suspensions++ == 0)
                Disarm(entry);
            return new Suspension(this, entry);
        }
    }

    private void Resume(Entry entry)
    {
        bool slippedIn = false;
        lock (_lock)
        {
            if (--entry.Suspensions > 0 || entry.Released)
                return;
            int errno = Arm(entry.Fd, entry.Mode);
            if (errno == 0)
                entry.Armed = true;
            else
                slippedIn = errno == Errno.EAGAIN;
        }
        if (slippedIn)
        {
            Log.AfterTheFact(_logger, entry.Ino, 0, 0, LocalAccessKind.Modified);
            _sink.OnLocalAccess(entry.Ino, LocalAccessKind.Modified);
        }
    }

    // ---------------------------------------------------------------- the watcher's side

    /// <summary>
    /// A break signal for descriptor <paramref name="fd"/>: the access to report, or null when the signal is stale (the
    /// descriptor is no longer a guard's, the lease was since unlocked, or F_GETLEASE shows no break pending).
    /// </summary>
    public LocalAccessKind? TakeBreak(int fd, out ulong ino)
    {
        lock (_lock)
        {
            ino = 0;
            if (!_byFd.TryGetValue(fd, out Entry? entry))
                return null;
            ino = entry.Ino;
            return BreakingLocked(entry);
        }
    }

    private LocalAccessKind? BreakingLocked(Entry entry)
    {
        if (!entry.Armed || entry.Released)
            return null;
        int held = entry.Mode == GuardMode.Read ? LibC.F_RDLCK : LibC.F_WRLCK;
        int now = GetLock(entry.Fd, Mechanism);
        if (now < 0 || now == held)
            return null;
        return now == LibC.F_RDLCK ? LocalAccessKind.OpenRead : LocalAccessKind.OpenWrite;
    }

    /// <summary>Every guarded inode whose lease is breaking (after a signal queue overflow or a stray signal).</summary>
    public List<(ulong Ino, LocalAccessKind Access)> Scan()
    {
        var breaking = new List<(ulong, LocalAccessKind)>();
        lock (_lock)
        {
            foreach (Entry entry in _byIno.Values)
            {
                if (BreakingLocked(entry) is { } access)
                    breaking.Add((entry.Ino, access));
            }
        }
        return breaking;
    }

    /// <summary>The guarded inode a fanotify file id names, by its kernel handle bytes.</summary>
    public bool TryFindByHandle(byte[] kernelHandle, out ulong ino)
    {
        lock (_lock)
        {
            ino = _byHandle.TryGetValue(kernelHandle, out Entry? entry) ? entry.Ino : 0;
            return entry is not null;
        }
    }

    /// <summary>Every guarded inode (a fanotify queue overflow reports them all).</summary>
    public List<ulong> AllInodes()
    {
        lock (_lock)
            return [.. _byIno.Keys];
    }

    /// <summary>For tests: the guard on <paramref name="ino"/> as the kernel sees it, or null when unguarded.</summary>
    internal unsafe GuardState? Describe(ulong ino)
    {
        lock (_lock)
        {
            if (!_byIno.TryGetValue(ino, out Entry? entry))
                return null;
            var owner = new FOwnerEx();
            LibC.fcntl(entry.Fd, LibC.F_GETOWN_EX, &owner);
            return new GuardState(entry.FdNumber, entry.Mode, entry.Holders, entry.Armed, entry.Suspensions,
                LibC.fcntl(entry.Fd, LibC.F_GETSIG, 0), owner.Type, owner.Pid, GetLock(entry.Fd, Mechanism));
        }
    }

    /// <summary>A guard's kernel state, for tests.</summary>
    internal sealed record GuardState(int Fd, GuardMode Mode, int Holders, bool Armed, int Suspensions, int Signal, int OwnerType, int OwnerTid, int Lock);

    /// <summary>One guard: disposing it more than once releases one hold.</summary>
    private sealed class Hold(KernelLeases table, Entry entry) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                table.Release(entry);
        }
    }

    /// <summary>A suspension (<see cref="Suspend"/>); disposing it resumes.</summary>
    internal readonly struct Suspension : IDisposable
    {
        private readonly KernelLeases? _table;
        private readonly Entry? _entry;

        internal Suspension(KernelLeases table, Entry entry)
        {
            _table = table;
            _entry = entry;
        }

        public void Dispose()
        {
            if (_table is not null && _entry is not null)
                _table.Resume(_entry);
        }
    }

    private sealed class HandleComparer : IEqualityComparer<byte[]>
    {
        public static readonly HandleComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var hash = new HashCode();
            hash.AddBytes(obj);
            return hash.ToHashCode();
        }
    }
}

/// <summary>
/// A descriptor for the export's own I/O (<see cref="KernelLeases.OpenOwn"/>): a borrowed guard descriptor, or one of its
/// own (invalid when the open failed, with <see cref="Errno"/>), perhaps inside a suspension. Disposing it closes (or
/// gives back) the descriptor first, then resumes, because the re-arm fails while our own writer is open.
/// </summary>
internal readonly struct OwnIo : IDisposable
{
    private readonly bool _borrowed;
    private readonly KernelLeases.Suspension _suspension;

    internal OwnIo(SafeFd fd, bool borrowed, int errno, KernelLeases.Suspension suspension)
    {
        Fd = fd;
        _borrowed = borrowed;
        Errno = errno;
        _suspension = suspension;
    }

    public SafeFd Fd { get; }

    /// <summary>The open's errno when <see cref="Fd"/> is invalid.</summary>
    public int Errno { get; }

    /// <summary>True when this is the guard's own descriptor.</summary>
    public bool IsGuard => _borrowed;

    public void Dispose()
    {
        if (Fd is null)
            return;
        if (_borrowed)
            Fd.DangerousRelease();
        else
            Fd.Dispose();
        _suspension.Dispose();
    }
}

/// <summary>The guard's descriptor, borrowed for one call (<see cref="KernelLeases.Borrow"/>); empty when the file is not guarded.</summary>
internal readonly struct GuardIo(SafeFd fd, GuardMode mode) : IDisposable
{
    public SafeFd? Fd { get; } = fd;

    public GuardMode Mode { get; } = mode;

    /// <summary>True when the descriptor can write (a write guard's O_RDWR descriptor).</summary>
    public bool CanWrite => Fd is not null && Mode == GuardMode.Write;

    public void Dispose() => Fd?.DangerousRelease();
}
