using System.Runtime.InteropServices;

namespace Leasehold.Export.Native;

// LibC, signals: the watcher's signal mask, signalfd, eventfd, poll and plain read/write on them.
internal static unsafe partial class LibC
{
    public const int SIGIO = 29; // = SIGPOLL, on x86-64 and arm64

    public const int SIG_BLOCK = 0;

    /// <summary>glibc's sigset_t is 1024 bits.</summary>
    public const int SigsetSize = 128;

    /// <summary>glibc's struct sigaction is 152 bytes on x86-64 (sa_handler first); this is room to spare.</summary>
    public const int SigactionSize = 256;

    /// <summary>struct signalfd_siginfo, always 128 bytes.</summary>
    public const int SignalfdSiginfoSize = 128;

    public const int SFD_NONBLOCK = 0x800;
    public const int SFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    public const short POLLIN = 0x1;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sigemptyset(byte* set);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sigaddset(byte* set, int signal);

    /// <summary>Returns an error number (not -1 and errno), as every pthread call.</summary>
    [LibraryImport(Lib)]
    public static partial int pthread_sigmask(int how, byte* set, byte* oldSet);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sigaction(int signal, byte* action, byte* oldAction);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial SafeFd signalfd(int fd, byte* mask, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial SafeFd eventfd(uint initial, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint read(SafeFd fd, byte* buffer, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint write(SafeFd fd, byte* buffer, nuint count);

    [LibraryImport(Lib)]
    public static partial int __libc_current_sigrtmin();

    [LibraryImport(Lib)]
    public static partial int __libc_current_sigrtmax();
}

/// <summary>struct pollfd.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short ReturnedEvents;
}
