namespace Leasehold.Engine;

/// <summary>Tunables of the engine. Every default says where it comes from.</summary>
public sealed class LeaseEngineOptions
{
    /// <summary>How long a lease holder has to answer a break. 45 s: Linux's /proc/sys/fs/lease-break-time.</summary>
    public TimeSpan LeaseBreakTime { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// How long a delegation holder has to return it. 45 s, as for leases; the NFS layer usually sets this to the
    /// NFS lease time so a client that renews in time has one whole lease period to answer a recall.
    /// </summary>
    public TimeSpan DelegationBreakTime { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// How long a layout holder has to return it. 45 s, as for leases. Unlike Linux, a layout break always ends:
    /// knfsd hung on layout conflicts because a layout lease never timed out.
    /// </summary>
    public TimeSpan LayoutBreakTime { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// After a file's delegation is recalled, no new delegation is granted on it for this long, so a busy file is not
    /// delegated and recalled over and over. 30 s: knfsd's bloom filter of recently recalled files is rotated every 30 s.
    /// </summary>
    public TimeSpan DelegationRecallWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often idle file states (no grants, opens or waiters) are swept out; a state is dropped after being idle for
    /// one to two intervals. 10 s: a file opened and closed in a loop (an NFS client's OPEN/CLOSE) keeps its state
    /// instead of paying for a dictionary insert and removal every time, and an idle state costs ~100 bytes meanwhile.
    /// </summary>
    public TimeSpan IdleSweepInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws when a setting is out of range. A break time of zero is allowed and means "revoke at once".</summary>
    public void Validate()
    {
        Check(LeaseBreakTime, nameof(LeaseBreakTime));
        Check(DelegationBreakTime, nameof(DelegationBreakTime));
        Check(LayoutBreakTime, nameof(LayoutBreakTime));
        Check(DelegationRecallWindow, nameof(DelegationRecallWindow));
        Check(IdleSweepInterval, nameof(IdleSweepInterval));
        if (IdleSweepInterval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(IdleSweepInterval), IdleSweepInterval, "IdleSweepInterval must be positive.");

        static void Check(TimeSpan value, string name)
        {
            if (value < TimeSpan.Zero || value > TimeSpan.FromDays(1))
                throw new ArgumentOutOfRangeException(name, value, $"{name} must be between 0 and 1 day.");
        }
    }
}
