namespace Leasehold.Testing;

/// <summary>
/// /proc/sys/fs/lease-break-time is one setting for the whole machine, and `dotnet test Leasehold.slnx` runs the test
/// projects in parallel processes. Tests that change it hold this lock exclusively while it is changed; tests whose
/// local processes wait in the kernel for a lease break (and so depend on it) hold it shared. A flock(2) on a file
/// (what .NET's FileShare does on Linux): shared and exclusive across processes and within one.
/// </summary>
public static class LeaseBreakTimeLock
{
    private static readonly string LockPath = Path.Combine(Path.GetTempPath(), "leasehold-tests-lease-break-time.lock");

    /// <summary>Waits (polling, at most <paramref name="timeout"/>, default 10 min) for the lock held shared.</summary>
    public static Task<IDisposable> SharedAsync(TimeSpan? timeout = null) => AcquireAsync(exclusive: false, timeout);

    /// <summary>Waits (polling, at most <paramref name="timeout"/>, default 10 min) for the lock held exclusively.</summary>
    public static Task<IDisposable> ExclusiveAsync(TimeSpan? timeout = null) => AcquireAsync(exclusive: true, timeout);

    /// <summary>The synchronous form, for code that cannot await (a test scene's setter).</summary>
    public static IDisposable Exclusive(TimeSpan? timeout = null) => AcquireAsync(exclusive: true, timeout).GetAwaiter().GetResult();

    private static async Task<IDisposable> AcquireAsync(bool exclusive, TimeSpan? timeout)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(10));
        while (true)
        {
            try
            {
                // FileShare.None takes LOCK_EX; a read-only open with sharing takes LOCK_SH (both non-blocking).
                return exclusive
                    ? new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
                    : new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
        }
    }
}
