using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// The kernel baseline for target 1: fcntl(F_SETLEASE, F_RDLCK) then fcntl(F_SETLEASE, F_UNLCK) on a descriptor
/// opened read-only on a temporary file we own. A read lease needs no writer on the file and either ownership of
/// the file or CAP_LEASE; the benchmarks run as root.
/// </summary>
internal sealed partial class KernelLease : IDisposable
{
    // include/uapi/linux/fcntl.h and asm-generic/fcntl.h
    private const int F_SETLEASE = 1024;
    private const int F_RDLCK = 0;
    private const int F_UNLCK = 2;

    private readonly string _path;
    private readonly SafeFileHandle _handle;
    private readonly int _fd;

    public KernelLease()
    {
        _path = Path.Combine(Path.GetTempPath(), $"leasehold-bench-{Environment.ProcessId}.lease");
        File.WriteAllBytes(_path, [0]);
        // FileShare.ReadWrite so .NET takes no advisory lock of its own on the descriptor.
        _handle = File.OpenHandle(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        _fd = (int)_handle.DangerousGetHandle();
        // Fail here, in setup, rather than time a loop of failing system calls.
        Acquire();
        Release();
    }

    public void Acquire() => Check(Fcntl(_fd, F_SETLEASE, F_RDLCK), "F_RDLCK");

    public void Release() => Check(Fcntl(_fd, F_SETLEASE, F_UNLCK), "F_UNLCK");

    /// <summary>One timed pair. Results are not checked here (setup proved the calls work) to time only the kernel.</summary>
    public int Pair() => Fcntl(_fd, F_SETLEASE, F_RDLCK) | Fcntl(_fd, F_SETLEASE, F_UNLCK);

    private static void Check(int rc, string what)
    {
        if (rc != 0)
            throw new InvalidOperationException($"fcntl(F_SETLEASE, {what}) failed with errno {Marshal.GetLastPInvokeError()}.");
    }

    // fcntl is variadic; on x86-64 and arm64 Linux an int third argument is passed exactly as a fixed one would be.
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int cmd, int arg);

    public void Dispose()
    {
        _handle.Dispose();
        File.Delete(_path);
    }
}
