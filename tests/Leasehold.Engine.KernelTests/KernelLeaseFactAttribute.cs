namespace Leasehold.Engine.KernelTests;

/// <summary>A test that needs real kernel leases: skipped, with the reason, where the kernel gives none.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class KernelLeaseFactAttribute : FactAttribute
{
    public KernelLeaseFactAttribute()
    {
        if (KernelLeaseSupport.LeasesUnavailable is { } reason)
            Skip = reason;
    }
}

/// <summary>
/// A test that needs real kernel leases and changes /proc/sys/fs/lease-break-time (it restores it afterwards):
/// skipped where that file is not writable.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class KernelLeaseBreakTimeFactAttribute : FactAttribute
{
    public KernelLeaseBreakTimeFactAttribute()
    {
        if (KernelLeaseSupport.BreakTimeFixed is { } reason)
            Skip = reason;
    }
}
