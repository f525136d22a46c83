namespace Leasehold.Engine;

/// <summary>
/// The part of a file's state that only files that have seen a break need: parked breakers, the deadline timer
/// and the delegation recall window. Kept apart so that a million quietly delegated files do not each carry it
/// (40 bytes a file). Guarded by the owning <see cref="FileState"/>'s lock; dropped by the idle sweep.
/// </summary>
internal sealed class BreakState
{
    public List<BreakWaiter>? Waiters;

    /// <summary>Never later than the earliest deadline of the file's Breaking grants (it may be earlier after a release; the timer then re-arms).</summary>
    public long NextDeadline = long.MaxValue;

    /// <summary>Timestamp before which no delegation is granted on the file; 0 = none.</summary>
    public long RecallUntil;

    public ITimer? Timer;

    /// <summary>Timestamp the timer is armed for; long.MaxValue = disarmed.</summary>
    public long TimerDue = long.MaxValue;

    public bool HasWaiters => Waiters is { Count: > 0 };
}
