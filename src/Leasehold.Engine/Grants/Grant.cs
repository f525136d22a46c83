namespace Leasehold.Engine;

/// <summary>
/// A grant held by an owner on a file: the handle the holder keeps and later passes to
/// <see cref="LeaseEngine.Release"/> or <see cref="LeaseEngine.Downgrade"/>.
/// </summary>
/// <remarks>
/// Mutable fields are written only under the owning file's lock (<see cref="FileState"/>); the public
/// properties read them without it and may be a moment stale, which is fine for a holder deciding what
/// to do next. Grants of one file form an intrusive doubly linked list so that releasing one of
/// ten thousand costs O(1) and no per-file list allocation.
/// </remarks>
public sealed class Grant
{
    internal readonly FileState FileState;
    internal GrantMode CurrentMode;
    internal GrantState CurrentState;
    internal BreakTarget PendingTarget;
    internal long DeadlineTimestamp; // TimeProvider timestamp; meaningful only while Breaking
    internal long GrantedTimestamp; // TimeProvider timestamp of the admission, for the snapshot's age
    internal Grant? Previous;
    internal Grant? Next;

    internal Grant(FileState file, Owner owner, GrantKind kind, GrantMode mode, IGrantHolder holder)
    {
        FileState = file;
        Owner = owner;
        Kind = kind;
        CurrentMode = mode;
        Holder = holder;
    }

    public FileKey File => FileState.Key;

    public Owner Owner { get; }

    public GrantKind Kind { get; }

    public IGrantHolder Holder { get; }

    public GrantMode Mode => CurrentMode;

    public GrantState State => CurrentState;

    /// <summary>Counts toward conflicts: held and not yet taken back or given up.</summary>
    internal bool IsLive => CurrentState is GrantState.Active or GrantState.Breaking;

    public override string ToString() => $"{Kind} {CurrentMode} on {File} by {Owner} ({CurrentState})";
}
