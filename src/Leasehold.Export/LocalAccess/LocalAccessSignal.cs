using System.Runtime.InteropServices;
using Leasehold.Export.Native;

namespace Leasehold.Export.LocalAccess;

/// <summary>
/// The break signal, chosen once per process: the first of SIGRTMIN+6 … SIGRTMAX−1 whose disposition is SIG_DFL (never
/// 33 or 34, which glibc and the .NET runtime use). Every watcher in the process shares it: each lease signals its own
/// watcher thread (F_OWNER_TID), which blocks the signal and reads it from a signalfd of its own.
/// </summary>
/// <remarks>
/// The stray net: a <see cref="PosixSignalRegistration"/> for the signal and for SIGIO, registered before the first
/// lease. A signal that reaches the process rather than a watcher can only come from a bug; it is cancelled (so its
/// default action cannot kill the process), logged by every live watcher, and makes them scan their leases, so no break
/// is lost. Nothing of ours runs in a signal handler: the runtime calls the callback on its own signal thread.
/// </remarks>
internal static class LocalAccessSignal
{
    private static readonly Lock s_lock = new();
    private static int s_signal;
    private static string? s_failure;
    private static readonly List<PosixSignalRegistration> s_registrations = [];
    private static readonly List<LocalAccessWatcher> s_watchers = [];

    /// <summary>The chosen signal, or 0 with <paramref name="reason"/> when none is free.</summary>
    public static int Choose(out string? reason)
    {
        lock (s_lock)
        {
            if (s_signal == 0 && s_failure is null)
                Pick();
            reason = s_failure;
            return s_signal;
        }
    }

    private static unsafe void Pick()
    {
        int first = LibC.__libc_current_sigrtmin() + 6;
        int last = LibC.__libc_current_sigrtmax() - 1;
        byte* old = stackalloc byte[LibC.SigactionSize];
        for (int signal = Math.Max(first, 35); signal <= last; signal++)
        {
            new Span<byte>(old, LibC.SigactionSize).Clear();
            if (LibC.sigaction(signal, null, old) != 0)
                continue;
            if (*(nint*)old != 0) // sa_handler (first in glibc's struct sigaction): SIG_DFL is 0
                continue;
            try
            {
                s_registrations.Add(PosixSignalRegistration.Create((PosixSignal)signal, Stray));
                s_registrations.Add(PosixSignalRegistration.Create((PosixSignal)LibC.SIGIO, Stray));
            }
            catch (Exception ex) when (ex is PlatformNotSupportedException or IOException or ArgumentOutOfRangeException)
            {
                foreach (var registration in s_registrations)
                    registration.Dispose();
                s_registrations.Clear();
                s_failure = $"the runtime cannot register signal {signal}: {ex.Message}";
                return;
            }
            s_signal = signal;
            return;
        }
        s_failure = $"no real-time signal from {first} to {last} is free (each has a handler or is ignored)";
    }

    private static long s_strays;

    /// <summary>Stray signals seen so far in this process, by the runtime's handler or a watcher's signalfd.</summary>
    public static long Strays => Interlocked.Read(ref s_strays);

    public static void CountStray() => Interlocked.Increment(ref s_strays);

    private static void Stray(PosixSignalContext context)
    {
        context.Cancel = true;
        CountStray();
        LocalAccessWatcher[] watchers;
        lock (s_lock)
            watchers = [.. s_watchers];
        foreach (var watcher in watchers)
            watcher.OnStraySignal((int)context.Signal);
    }

    public static void Add(LocalAccessWatcher watcher)
    {
        lock (s_lock)
            s_watchers.Add(watcher);
    }

    public static void Remove(LocalAccessWatcher watcher)
    {
        lock (s_lock)
            s_watchers.Remove(watcher);
    }
}
