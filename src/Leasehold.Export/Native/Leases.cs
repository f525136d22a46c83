using System.Runtime.InteropServices;

namespace Leasehold.Export.Native;

// LibC, leases: fcntl(2) with an int or a pointer argument, the lease, signal-owner and delegation commands, and getrlimit.
internal static unsafe partial class LibC
{
    public const int F_SETOWN_EX = 15;
    public const int F_GETOWN_EX = 16;
    public const int F_SETSIG = 10;
    public const int F_GETSIG = 11;
    public const int F_SETLEASE = 1024;  // F_LINUX_SPECIFIC_BASE + 0
    public const int F_GETLEASE = 1025;  // F_LINUX_SPECIFIC_BASE + 1
    public const int F_GETDELEG = 1039;  // F_LINUX_SPECIFIC_BASE + 15 (Linux 6.19)
    public const int F_SETDELEG = 1040;  // F_LINUX_SPECIFIC_BASE + 16 (Linux 6.19)

    public const int F_RDLCK = 0;
    public const int F_WRLCK = 1;
    public const int F_UNLCK = 2;

    /// <summary>struct f_owner_ex type: the signal goes to one thread.</summary>
    public const int F_OWNER_TID = 0;

    public const int RLIMIT_NOFILE = 7;

    // fcntl(2) is variadic; on the Linux ABIs .NET runs on, an int or pointer third argument travels in the same
    // register as a fixed one would.
    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int fcntl(SafeFd fd, int command, int argument);

    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int fcntl(SafeFd fd, int command, void* argument);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getrlimit(int resource, out RLimit limit);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int gettid();
}

/// <summary>struct f_owner_ex (F_SETOWN_EX, F_GETOWN_EX).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FOwnerEx
{
    public int Type;
    public int Pid;
}

/// <summary>struct delegation (F_GETDELEG, F_SETDELEG; Linux 6.19): flags 0, a lock type, padding 0.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KernelDelegation
{
    public uint Flags;
    public ushort Type;
    private readonly ushort _pad;
}

/// <summary>struct rlimit on 64-bit Linux.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RLimit
{
    public ulong Current;
    public ulong Maximum;
}
