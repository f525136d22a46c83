using System.Buffers.Binary;
using Leasehold.Export.Native;
using Microsoft.Extensions.Logging;

namespace Leasehold.Export.LocalAccess;

/// <summary>
/// The one thread that learns of local access: it blocks the break signal and SIGIO in its own mask (no other thread's),
/// and poll(2)s a signalfd (kernel lease breaks, thread-directed to it by F_SETOWN_EX), the fanotify group (changes a
/// lease does not make wait, reported after the fact) and an eventfd (stop, or scan). It calls the sink on this thread.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>A break signal names the lease's descriptor (signalfd_siginfo.ssi_fd); a stale one (a reused descriptor
/// number, a lease unlocked since) is told apart with F_GETLEASE and ignored.</item>
/// <item>SIGIO means the real-time signal queue overflowed: every lease is scanned with F_GETLEASE.</item>
/// <item>fanotify events from this process (metadata pid = our pid) are the export's own changes and are skipped;
/// FAN_Q_OVERFLOW reports every guarded file as <see cref="LocalAccessKind.Unknown"/>.</item>
/// <item>If the loop fails it logs Critical (2019) and releases every guard, so no local process sits out the
/// kernel's break time waiting for a recall that will not come; from then on nothing is guarded.</item>
/// </list>
/// </remarks>
internal sealed class LocalAccessWatcher : IDisposable
{
    private const int SignalBatch = 16;
    private const int FanotifyBufferSize = 64 * 1024;

    private readonly KernelLeases _leases;
    private readonly SafeFd? _fanotify;
    private readonly int _signal;
    private readonly ILocalAccessSink _sink;
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private readonly SafeFd _wake;
    private readonly ManualResetEventSlim _started = new();
    private readonly int _ownPid = Environment.ProcessId;
    private Exception? _startFailure;
    private volatile bool _stopping;
    private volatile bool _failureInjected;
    private int _scanRequested;
    private int _tid;

    /// <param name="fanotify">The fanotify group (owned by the watcher from now on), or null under Delegations.</param>
    public LocalAccessWatcher(KernelLeases leases, int signal, SafeFd? fanotify, ILocalAccessSink sink, ILogger logger)
    {
        _leases = leases;
        _signal = signal;
        _fanotify = fanotify;
        _sink = sink;
        _logger = logger;
        _wake = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
        if (_wake.IsInvalid)
        {
            int errno = LibC.LastErrno;
            _wake.Dispose();
            throw new IOException($"eventfd failed with errno {errno}.");
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "Leasehold local access" };
    }

    /// <summary>The watcher thread's kernel thread id (gettid), once <see cref="Start"/> returned.</summary>
    public int Tid => Volatile.Read(ref _tid);

    /// <summary>Reports so far, for tests and metrics: kernel breaks and after-the-fact changes.</summary>
    public long KernelBreaks;

    /// <inheritdoc cref="KernelBreaks"/>
    public long AfterTheFactChanges;

    /// <summary>True once the loop failed (and every guard was released).</summary>
    public bool Failed { get; private set; }

    /// <summary>Starts the thread and waits until its signal mask, signalfd and thread id are in place.</summary>
    public void Start()
    {
        _thread.Start();
        _started.Wait();
        if (_startFailure is not null)
        {
            _thread.Join();
            throw new IOException($"The local access watcher could not start: {_startFailure.Message}", _startFailure);
        }
        LocalAccessSignal.Add(this);
    }

    /// <summary>Asks the thread to scan every lease (a stray signal may have been a break meant for it).</summary>
    public void RequestScan()
    {
        Interlocked.Exchange(ref _scanRequested, 1);
        Wake();
    }

    /// <summary>For tests: makes the loop fail as a broken descriptor would.</summary>
    internal void InjectFailure()
    {
        _failureInjected = true;
        Wake();
    }

    public void OnStraySignal(int signal)
    {
        Log.StraySignal(_logger, signal);
        RequestScan();
    }

    /// <summary>
    /// Wakes the thread. A stray signal is handed to every watcher registered when it arrived, on a pool thread, so it
    /// can reach one that is being disposed: with the eventfd closed there is no thread left to wake, and that is all.
    /// </summary>
    private unsafe void Wake()
    {
        ulong one = 1;
        try
        {
            LibC.write(_wake, (byte*)&one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
            // stopped and disposed meanwhile
        }
    }

    /// <summary>Stops the thread and waits for it. The guards stay; the owner releases them next.</summary>
    public void Stop()
    {
        if (!_thread.IsAlive)
            return;
        LocalAccessSignal.Remove(this);
        _stopping = true;
        Wake();
        _thread.Join();
    }

    public void Dispose()
    {
        Stop();
        _wake.Dispose();
        _fanotify?.Dispose();
        _started.Dispose();
    }

    private unsafe void Run()
    {
        SafeFd signals;
        try
        {
            // Block the break signal and SIGIO in this thread only, then read them from a signalfd: thread-directed
            // signals wait in this thread's queue; no handler runs, and no other thread can take them.
            byte* mask = stackalloc byte[LibC.SigsetSize];
            LibC.sigemptyset(mask);
            LibC.sigaddset(mask, _signal);
            LibC.sigaddset(mask, LibC.SIGIO);
            int error = LibC.pthread_sigmask(LibC.SIG_BLOCK, mask, null);
            if (error != 0)
                throw new IOException($"pthread_sigmask failed with error {error}.");
            signals = LibC.signalfd(-1, mask, LibC.SFD_CLOEXEC | LibC.SFD_NONBLOCK);
            if (signals.IsInvalid)
            {
                int errno = LibC.LastErrno;
                signals.Dispose();
                throw new IOException($"signalfd failed with errno {errno}.");
            }
            Volatile.Write(ref _tid, LibC.gettid());
        }
        catch (Exception ex)
        {
            _startFailure = ex;
            _started.Set();
            return;
        }
        _started.Set();

        using (signals)
        {
            try
            {
                Loop(signals);
            }
            catch (Exception ex)
            {
                Failed = true;
                Log.WatcherFailed(_logger, ex);
                _leases.Fail();
            }
        }
    }

    private unsafe void Loop(SafeFd signals)
    {
        byte[] fanotifyBuffer = _fanotify is null ? [] : GC.AllocateUninitializedArray<byte>(FanotifyBufferSize, pinned: true);
        byte* signalBuffer = stackalloc byte[SignalBatch * LibC.SignalfdSiginfoSize];
        PollFd* fds = stackalloc PollFd[3];
        int count = _fanotify is null ? 2 : 3;
        var reports = new List<(ulong Ino, LocalAccessKind Access)>();
        bool added = false, addedWake = false, addedFan = false;
        signals.DangerousAddRef(ref added);
        _wake.DangerousAddRef(ref addedWake);
        _fanotify?.DangerousAddRef(ref addedFan);
        try
        {
            fds[0] = new PollFd { Fd = signals.Number, Events = LibC.POLLIN };
            fds[1] = new PollFd { Fd = _wake.Number, Events = LibC.POLLIN };
            if (_fanotify is not null)
                fds[2] = new PollFd { Fd = _fanotify.Number, Events = LibC.POLLIN };
            while (true)
            {
                for (int i = 0; i < count; i++)
                    fds[i].ReturnedEvents = 0;
                if (LibC.poll(fds, (nuint)count, -1) < 0)
                {
                    int errno = LibC.LastErrno;
                    if (errno == Errno.EINTR)
                        continue;
                    throw new IOException($"poll failed with errno {errno}.");
                }
                for (int i = 0; i < count; i++)
                {
                    if ((fds[i].ReturnedEvents & (LibC.POLLERR | LibC.POLLNVAL)) != 0)
                        throw new IOException($"poll reported descriptor {fds[i].Fd} broken (revents 0x{fds[i].ReturnedEvents:x}).");
                }
                if ((fds[1].ReturnedEvents & LibC.POLLIN) != 0)
                {
                    ulong value;
                    LibC.read(_wake, (byte*)&value, sizeof(ulong));
                    if (_stopping)
                        return;
                    if (_failureInjected)
                        throw new IOException("A failure injected by a test.");
                    if (Interlocked.Exchange(ref _scanRequested, 0) != 0)
                        reports.AddRange(_leases.Scan());
                }
                if ((fds[0].ReturnedEvents & LibC.POLLIN) != 0)
                    ReadSignals(signals, signalBuffer, reports);
                if (count == 3 && (fds[2].ReturnedEvents & LibC.POLLIN) != 0)
                    ReadFanotify(fanotifyBuffer, reports);
                foreach (var (ino, access) in reports)
                    _sink.OnLocalAccess(ino, access);
                reports.Clear();
            }
        }
        finally
        {
            if (added)
                signals.DangerousRelease();
            if (addedWake)
                _wake.DangerousRelease();
            if (addedFan)
                _fanotify!.DangerousRelease();
        }
    }

    private unsafe void ReadSignals(SafeFd signals, byte* buffer, List<(ulong, LocalAccessKind)> reports)
    {
        while (true)
        {
            nint read = LibC.read(signals, buffer, (nuint)(SignalBatch * LibC.SignalfdSiginfoSize));
            if (read < 0)
            {
                int errno = LibC.LastErrno;
                if (errno is Errno.EAGAIN)
                    return;
                if (errno is Errno.EINTR)
                    continue;
                throw new IOException($"Reading the signalfd failed with errno {errno}.");
            }
            bool scanned = false;
            for (nint offset = 0; offset + LibC.SignalfdSiginfoSize <= read; offset += LibC.SignalfdSiginfoSize)
            {
                var info = new ReadOnlySpan<byte>(buffer + offset, LibC.SignalfdSiginfoSize);
                int signo = (int)BinaryPrimitives.ReadUInt32LittleEndian(info);
                int code = BinaryPrimitives.ReadInt32LittleEndian(info[8..]); // ssi_code
                int fd = BinaryPrimitives.ReadInt32LittleEndian(info[20..]); // ssi_fd
                if (code <= 0)
                {
                    // SI_USER, SI_QUEUE, SI_TKILL: sent by a process (kill, sigqueue), not by the kernel for a lease; a
                    // process-directed one can land in this signalfd as well as in the runtime's handler. A stray.
                    LocalAccessSignal.CountStray();
                    Log.StraySignal(_logger, signo);
                    if (!scanned)
                    {
                        scanned = true;
                        reports.AddRange(_leases.Scan());
                    }
                }
                else if (signo == _signal)
                {
                    if (_leases.TakeBreak(fd, out ulong ino) is { } access)
                    {
                        Interlocked.Increment(ref KernelBreaks);
                        Log.KernelBreak(_logger, ino, access);
                        reports.Add((ino, access));
                    }
                }
                else if (!scanned)
                {
                    // SIGIO: the kernel's real-time signal queue was full, so it could not say which lease breaks.
                    scanned = true;
                    var breaking = _leases.Scan();
                    Log.LocalAccessOverflow(_logger, "The real-time signal queue", breaking.Count);
                    Interlocked.Add(ref KernelBreaks, breaking.Count);
                    reports.AddRange(breaking);
                }
            }
        }
    }

    private unsafe void ReadFanotify(byte[] buffer, List<(ulong, LocalAccessKind)> reports)
    {
        while (true)
        {
            nint read;
            fixed (byte* start = buffer)
                read = LibC.read(_fanotify!, start, (nuint)buffer.Length);
            if (read < 0)
            {
                int errno = LibC.LastErrno;
                if (errno is Errno.EAGAIN)
                    return;
                if (errno is Errno.EINTR)
                    continue;
                throw new IOException($"Reading the fanotify group failed with errno {errno}.");
            }
            ParseFanotify(buffer.AsSpan(0, (int)read), reports);
        }
    }

    /// <summary>Turns a batch of fanotify events (FAN_REPORT_FID: metadata, then a file id record) into reports.</summary>
    internal void ParseFanotify(ReadOnlySpan<byte> batch, List<(ulong, LocalAccessKind)> reports)
    {
        const int MetadataSize = 24;
        while (batch.Length >= MetadataSize)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(batch);
            if (length < MetadataSize || length > batch.Length)
                return;
            ReadOnlySpan<byte> eventBytes = batch[..(int)length];
            batch = batch[(int)length..];
            ushort metadataLength = BinaryPrimitives.ReadUInt16LittleEndian(eventBytes[6..]);
            ulong mask = BinaryPrimitives.ReadUInt64LittleEndian(eventBytes[8..]);
            int pid = BinaryPrimitives.ReadInt32LittleEndian(eventBytes[20..]);
            if ((mask & LibC.FAN_Q_OVERFLOW) != 0)
            {
                var all = _leases.AllInodes();
                Log.LocalAccessOverflow(_logger, "The fanotify queue", all.Count);
                foreach (ulong each in all)
                    reports.Add((each, LocalAccessKind.Unknown));
                continue;
            }
            if (pid == _ownPid)
                continue; // the export's own change (it went through the guard, or ran suspended)
            if (FileIdOf(eventBytes[Math.Min((int)metadataLength, eventBytes.Length)..]) is not { } handle
                || !_leases.TryFindByHandle(handle, out ulong ino))
                continue; // released since the event was queued
            Interlocked.Increment(ref AfterTheFactChanges);
            foreach (var (bit, access) in Kinds)
            {
                if ((mask & bit) != 0)
                {
                    Log.AfterTheFact(_logger, ino, pid, mask, access);
                    reports.Add((ino, access));
                }
            }
        }
    }

    private static readonly (ulong Bit, LocalAccessKind Access)[] Kinds =
    [
        (LibC.FAN_MODIFY, LocalAccessKind.Modified),
        (LibC.FAN_ATTRIB, LocalAccessKind.AttributesChanged),
        (LibC.FAN_MOVE_SELF, LocalAccessKind.Moved),
        (LibC.FAN_DELETE_SELF, LocalAccessKind.Gone),
    ];

    /// <summary>
    /// The kernel handle bytes of a FAN_EVENT_INFO_TYPE_FID record: header (type, pad, u16 length), fsid (8 bytes),
    /// then struct file_handle (u32 handle_bytes, s32 handle_type, the bytes).
    /// </summary>
    private static byte[]? FileIdOf(ReadOnlySpan<byte> info)
    {
        while (info.Length >= 4)
        {
            byte type = info[0];
            ushort length = BinaryPrimitives.ReadUInt16LittleEndian(info[2..]);
            if (length < 4 || length > info.Length)
                return null;
            if (type == LibC.FAN_EVENT_INFO_TYPE_FID && length >= 20)
            {
                uint handleBytes = BinaryPrimitives.ReadUInt32LittleEndian(info[12..]);
                if (20 + handleBytes <= length)
                    return info.Slice(20, (int)handleBytes).ToArray();
                return null;
            }
            info = info[length..];
        }
        return null;
    }
}
