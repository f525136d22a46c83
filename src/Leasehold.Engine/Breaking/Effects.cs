namespace Leasehold.Engine;

/// <summary>A message to a grant's holder, delivered after the file lock is dropped.</summary>
internal readonly record struct HolderNotice(Grant Grant, BreakTarget Target, bool Expired, DateTimeOffset Deadline);

/// <summary>
/// What a critical section decided but must not do under the lock: tell holders, release waiters, tell the
/// authority. Collected under the file lock and carried out by <see cref="LeaseEngine"/> afterwards, like the
/// <c>dispose</c> list in fs/locks.c. Allocates nothing unless something happened.
/// </summary>
internal struct Effects
{
    public List<HolderNotice>? Notices;
    public List<(BreakWaiter Waiter, BreakResult Result)>? Completions;
    public List<Grant>? Ended;

    /// <summary>A new grant was admitted (for <see cref="EngineMetrics"/>; needs no <see cref="LeaseEngine"/> Run of its own).</summary>
    public bool NewGrant;

    public readonly bool IsEmpty => Notices is null && Completions is null && Ended is null;

    public void Notify(Grant grant, BreakTarget target, bool expired, DateTimeOffset deadline) =>
        (Notices ??= []).Add(new HolderNotice(grant, target, expired, deadline));

    public void Complete(BreakWaiter waiter, BreakResult result) => (Completions ??= []).Add((waiter, result));

    public void End(Grant grant) => (Ended ??= []).Add(grant);
}
