namespace Leasehold.Engine;

/// <summary>One grant as <see cref="LeaseEngine.Snapshot"/> saw it: a line of /proc/locks, as data.</summary>
/// <param name="PendingBreak">What the holder was asked to do, while <paramref name="State"/> is Breaking.</param>
/// <param name="Deadline">When the engine takes the grant back by itself, while Breaking.</param>
/// <param name="WaitingBreakers">Breakers parked on the file.</param>
/// <param name="Granted">When the engine admitted the grant (its age is now minus this; a mode change keeps it).</param>
public sealed record GrantSnapshot(
    FileKey File,
    GrantKind Kind,
    GrantMode Mode,
    Owner Holder,
    GrantState State,
    BreakTarget PendingBreak,
    DateTimeOffset? Deadline,
    int WaitingBreakers,
    DateTimeOffset Granted);

/// <summary>A breaker parked in <see cref="BreakMode.Await"/> mode, and how many grants still block it.</summary>
public sealed record BreakerSnapshot(FileKey File, FileOperation Operation, Owner Breaker, int BlockedBy);

/// <summary>Every grant and waiting breaker at one moment (each file is read under its own lock, so files are consistent one by one).</summary>
public sealed record EngineSnapshot(IReadOnlyList<GrantSnapshot> Grants, IReadOnlyList<BreakerSnapshot> Breakers);
