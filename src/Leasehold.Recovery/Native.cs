using System.Runtime.InteropServices;

namespace Leasehold.Recovery;

/// <summary>
/// The few system calls .NET does not offer as they are: flock(2) on a descriptor of our own (.NET's FileStream takes
/// its own flock, shared or exclusive by FileShare, which would fight ours), and fsync(2) of a directory.
/// </summary>
internal static class Native
{
    public const int ORdOnly = 0, ORdWr = 2, OCreat = 0x40, ODirectory = 0x10000, OCloExec = 0x80000;
    public const int LockEx = 2, LockNb = 4;
    public const int EWouldBlock = 11, EIntr = 4;

    [DllImport("libc", EntryPoint = "open", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    public static extern int Open(string path, int flags, int mode);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    public static extern int Close(int fd);

    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static extern int Flock(int fd, int operation);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static extern int Ftruncate(int fd, long length);

    [DllImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    public static extern nint Pwrite(int fd, byte[] buffer, nint count, long offset);

    [DllImport("libc", EntryPoint = "pread", SetLastError = true)]
    public static extern nint Pread(int fd, byte[] buffer, nint count, long offset);

    /// <summary>fsync(2) of a directory, so a name just made in it is durable. Errors are ignored (as <c>HandleSigner</c> does): a file system without directory fsync still works.</summary>
    public static void SyncDirectory(string directory)
    {
        int fd = Open(directory, ORdOnly | ODirectory | OCloExec, 0);
        if (fd < 0)
            return;
        _ = Fsync(fd);
        _ = Close(fd);
    }

    /// <summary>strerror-like text for the last error of a call.</summary>
    public static string LastError() => Marshal.GetLastPInvokeErrorMessage();
}
