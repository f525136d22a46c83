namespace Leasehold.Engine;

/// <summary>What an operation does to one grant held by somebody else.</summary>
internal enum Conflict : byte
{
    /// <summary>The grant is not affected.</summary>
    None,

    /// <summary>The grant must be downgraded (a write lease to a read lease) before the operation goes ahead.</summary>
    Downgrade,

    /// <summary>The grant must be given up before the operation goes ahead.</summary>
    Revoke,

    /// <summary>The grant cannot be broken by this operation; the operation fails at once (an exclusive layout).</summary>
    Busy,
}

/// <summary>What a holder's own request does to the grant it already holds (see <see cref="ConflictRules.ChangeOwnGrant"/>).</summary>
internal enum OwnChange : byte
{
    /// <summary>The grant already has the mode asked for and no break is pending: Granted, nothing changes.</summary>
    Keep,

    /// <summary>Weaken the grant to the mode asked for (and, if a downgrade break is pending, that answers it).</summary>
    Weaken,

    /// <summary>Strengthen the grant, if nothing else on the file forbids it (checked like a new grant).</summary>
    Strengthen,

    /// <summary>The grant is being broken and the request is not the answer the break asks for: BreakPending, nothing changes.</summary>
    Refuse,
}

/// <summary>
/// The conflict rules, as small pure functions (compare <c>leases_conflict()</c> in fs/locks.c).
/// They know nothing of owners: callers drop grants and opens that the breaker owns before asking.
/// <code>
///                  Lease R   Lease W    Deleg R   Deleg W   Layout S  Layout X
///   OpenRead       -         Downgrade  -         Revoke    -         -
///   OpenWrite      Revoke    Revoke     Revoke    Revoke    -         -
///   Truncate       Revoke    Revoke     Revoke    Revoke    Revoke    Busy
///   SetAttributes  -         -          Revoke    Revoke    -         -
///   Link/Unlink/Rename  -    -          Revoke    Revoke    -         -
///   LayoutChange   -         -          -         -         Revoke    Busy
///   SpaceChange    Revoke    Revoke     Revoke    Revoke    Revoke    Busy
/// </code>
/// A write delegation is revoked, not downgraded, by a reader: NFSv4 has no way to downgrade one.
/// </summary>
internal static class ConflictRules
{
    public static bool IsValid(GrantKind kind, GrantMode mode) => kind switch
    {
        GrantKind.Lease or GrantKind.Delegation => mode is GrantMode.Read or GrantMode.Write,
        GrantKind.Layout => mode is GrantMode.Shared or GrantMode.Exclusive,
        _ => false,
    };

    /// <summary>What <paramref name="op"/> does to a grant of this kind and mode held by another owner.</summary>
    public static Conflict Classify(FileOperation op, GrantKind kind, GrantMode mode)
    {
        if (kind == GrantKind.Layout)
        {
            return op is FileOperation.Truncate or FileOperation.LayoutChange or FileOperation.SpaceChange
                ? (mode == GrantMode.Exclusive ? Conflict.Busy : Conflict.Revoke)
                : Conflict.None;
        }

        switch (op)
        {
            case FileOperation.OpenRead:
                if (mode == GrantMode.Read)
                    return Conflict.None;
                return kind == GrantKind.Lease ? Conflict.Downgrade : Conflict.Revoke;
            case FileOperation.OpenWrite:
            case FileOperation.Truncate:
            case FileOperation.SpaceChange:
                return Conflict.Revoke;
            case FileOperation.SetAttributes:
            case FileOperation.Link:
            case FileOperation.Unlink:
            case FileOperation.Rename:
                return kind == GrantKind.Delegation ? Conflict.Revoke : Conflict.None;
            default:
                return Conflict.None;
        }
    }

    /// <summary>The operation an open of this access is, for breaking purposes (fs/locks.c breaks with O_WRONLY for any writer).</summary>
    public static FileOperation OperationFor(OpenAccess access) =>
        (access & OpenAccess.Write) != 0 ? FileOperation.OpenWrite : FileOperation.OpenRead;

    /// <summary>Whether two grants held by different owners can coexist.</summary>
    public static bool GrantsConflict(GrantKind kindA, GrantMode modeA, GrantKind kindB, GrantMode modeB)
    {
        bool layoutA = kindA == GrantKind.Layout, layoutB = kindB == GrantKind.Layout;
        if (layoutA != layoutB)
            return false; // Layouts guard blocks, leases and delegations guard data: they never meet.
        return layoutA
            ? modeA == GrantMode.Exclusive || modeB == GrantMode.Exclusive
            : modeA == GrantMode.Write || modeB == GrantMode.Write;
    }

    /// <summary>
    /// Whether other owners' opens forbid a grant, with Linux's rules: a read lease is refused while
    /// anyone else has the file open for write, a write lease while anyone else has it open at all.
    /// Layouts are not about opens.
    /// </summary>
    public static bool OpensForbid(GrantKind kind, GrantMode mode, int otherReaders, int otherWriters) => kind switch
    {
        GrantKind.Layout => false,
        _ => mode == GrantMode.Write ? otherReaders + otherWriters > 0 : otherWriters > 0,
    };

    /// <summary>The weaker mode a downgrade leaves, or the same mode when there is none.</summary>
    public static GrantMode Weaker(GrantMode mode) => mode switch
    {
        GrantMode.Write => GrantMode.Read,
        GrantMode.Exclusive => GrantMode.Shared,
        _ => mode,
    };

    public static bool IsStronger(GrantMode requested, GrantMode held) =>
        (requested == GrantMode.Write && held == GrantMode.Read) || (requested == GrantMode.Exclusive && held == GrantMode.Shared);

    /// <summary>
    /// A holder's own request for <paramref name="requested"/> on the grant it holds in <paramref name="held"/> mode
    /// (a second <c>F_SETLEASE</c> on the same descriptor, or <see cref="LeaseEngine.Downgrade"/>), with
    /// <paramref name="pending"/> the break that grant is under (<see cref="BreakTarget.None"/> when Active).
    /// <para>While a grant is Breaking, the only change its holder may make, short of releasing it, is the one the
    /// break asks for: the weaker mode when a downgrade is pending. Anything else (the same mode again, an upgrade, a
    /// downgrade while a revoke is pending, escalated or not) is refused and leaves the grant as it is, so a holder is
    /// never told it holds a grant it is about to lose, and a waiting breaker is released only by the answer it waits
    /// for, the deadline, or a release. Linux answers these with EAGAIN while the breaker is still in open(2) (its
    /// open counts against the lease in check_conflicting_open); once a non-blocking breaker has gone it accepts them
    /// but leaves the lease breaking, which this rule does not copy.</para>
    /// <code>
    ///   pending     same mode   stronger     weaker
    ///   None        Keep        Strengthen   Weaken
    ///   Downgrade   Refuse      Refuse       Weaken (the answer)
    ///   Revoke      Refuse      Refuse       Refuse (only a release answers a revoke)
    /// </code>
    /// </summary>
    public static OwnChange ChangeOwnGrant(GrantMode held, BreakTarget pending, GrantMode requested)
    {
        bool same = requested == held;
        bool stronger = IsStronger(requested, held);
        return pending switch
        {
            BreakTarget.None => same ? OwnChange.Keep : stronger ? OwnChange.Strengthen : OwnChange.Weaken,
            BreakTarget.Downgrade when requested == Weaker(held) && !same => OwnChange.Weaken,
            _ => OwnChange.Refuse,
        };
    }

    /// <summary>
    /// Whether a grant being broken keeps a new grant of <paramref name="requested"/> kind out, whoever holds either:
    /// leases and delegations wait for leases and delegations, layouts for layouts. fs/locks.c refuses a new lease while
    /// another is being unlocked; the requester's own grants count too, because the break is the breaker's, and a grant
    /// given now would only be broken again when the breaker retries.
    /// </summary>
    public static bool BreakKeepsOut(GrantKind breaking, GrantKind requested) =>
        (breaking == GrantKind.Layout) == (requested == GrantKind.Layout);
}
