namespace Leasehold.Engine;

/// <summary>
/// A breaker in <see cref="BreakMode.Await"/> mode, parked on a file until the grants it conflicts with are gone.
/// </summary>
/// <remarks>
/// <see cref="Remaining"/> counts the live grants that still block it. It only ever goes down: while a waiter is
/// parked the file admits no grant it would conflict with, so a grant can stop blocking it (downgraded, released,
/// revoked) but no new one can start. When it reaches zero the file completes the waiter, registering the
/// waiter's open in the same critical section so that no grant can slip in between. Guarded by the file's lock,
/// except the completion itself, which always happens after the lock is dropped.
/// </remarks>
internal sealed class BreakWaiter(FileState file, FileOperation operation, Owner breaker, OpenAccess openToRegister, int remaining, bool holdsFile = false)
    : TaskCompletionSource<BreakResult>(TaskCreationOptions.RunContinuationsAsynchronously)
{
    public FileState File { get; } = file;

    public FileOperation Operation { get; } = operation;

    public Owner Breaker { get; } = breaker;

    /// <summary>The open to register when the waiter is released, or 0 for a plain break.</summary>
    public OpenAccess OpenToRegister { get; } = openToRegister;

    public int Remaining = remaining;

    /// <summary>
    /// A <see cref="FileChange"/>: once released the waiter stays parked, with nothing left to wait for, so that the
    /// file keeps admitting no grant the change conflicts with until the caller ends the change.
    /// </summary>
    public bool HoldsFile { get; } = holdsFile;

    /// <summary>
    /// Non-zero for a node token recall (<see cref="LeaseEngine.RecallTokenRightsAsync"/>): the rights given up. Such a
    /// waiter is blocked by the grants that use them (<see cref="FileState.GrantUses"/>), not by <see cref="Operation"/>'s conflicts.
    /// </summary>
    public TokenRights TokenDrop { get; init; }

    public CancellationTokenRegistration Registration;
}
