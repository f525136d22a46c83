using System.Runtime.InteropServices;

namespace Leasehold.Engine.KernelTests;

/// <summary>
/// Finds out once whether this machine gives real file leases, and whether the tests may change the break time.
/// The answers are why a kernel test is skipped, or null when it can run.
/// </summary>
internal static partial class KernelLeaseSupport
{
    public const string LeasesEnablePath = "/proc/sys/fs/leases-enable";
    public const string LeaseBreakTimePath = "/proc/sys/fs/lease-break-time";

    private static readonly Lazy<string?> s_leasesUnavailable = new(ProbeLeases);
    private static readonly Lazy<string?> s_breakTimeFixed = new(ProbeBreakTime);

    /// <summary>Why kernel leases cannot be tested here, or null.</summary>
    public static string? LeasesUnavailable => s_leasesUnavailable.Value;

    /// <summary>Why the tests cannot change lease-break-time here, or null.</summary>
    public static string? BreakTimeFixed => LeasesUnavailable ?? s_breakTimeFixed.Value;

    private static string? ProbeLeases()
    {
        if (!OperatingSystem.IsLinux())
            return "Kernel leases are a Linux feature (fcntl F_SETLEASE).";
        string enabled;
        try
        {
            enabled = File.ReadAllText(LeasesEnablePath).Trim();
        }
        catch (IOException ex)
        {
            return $"Cannot read {LeasesEnablePath}: {ex.Message}";
        }
        catch (UnauthorizedAccessException ex)
        {
            return $"Cannot read {LeasesEnablePath}: {ex.Message}";
        }
        if (enabled != "1")
            return $"{LeasesEnablePath} is {enabled}, not 1: the kernel grants no leases.";

        // A lease needs CAP_LEASE or file ownership, and a filesystem that supports it: try one on a file we own.
        string path = Path.Combine(Path.GetTempPath(), $"leasehold-lease-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, []);
        try
        {
            int fd = Open(path, 0 /* O_RDONLY */ | 0x80000 /* O_CLOEXEC */);
            if (fd < 0)
                return $"Cannot open {path}: errno {Marshal.GetLastPInvokeError()}.";
            try
            {
                if (Fcntl(fd, 1024 /* F_SETLEASE */, 0 /* F_RDLCK */) < 0)
                    return $"fcntl(F_SETLEASE, F_RDLCK) on {Path.GetTempPath()} failed with errno {Marshal.GetLastPInvokeError()}.";
                Fcntl(fd, 1024, 2 /* F_UNLCK */);
                return null;
            }
            finally
            {
                Close(fd);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string? ProbeBreakTime() =>
        Access(LeaseBreakTimePath, 2 /* W_OK */) == 0
            ? null
            : $"{LeaseBreakTimePath} is not writable (errno {Marshal.GetLastPInvokeError()}); the test needs root to shorten the break time.";


    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Access(string path, int mode);
}
